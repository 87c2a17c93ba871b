package gateway

import "log/slog"

// ReloadFile reads the configuration file at path and, when it is valid,
// replaces the sites and prices (Reload); other settings take effect only on
// restart. A refused file leaves the running configuration in place. Either
// way the outcome is logged and counted in the reload metrics.
func (g *Gateway) ReloadFile(path string) error {
	next, err := LoadConfig(path)
	if err == nil {
		err = g.Reload(next.Sites)
	}
	if err != nil {
		g.metrics.Reloads.WithLabelValues("refused").Inc()
		g.metrics.ReloadOK.Set(0)
		g.log.Error("configuration reload refused; the running configuration stays", "path", path, "err", err)
		return err
	}
	g.metrics.Reloads.WithLabelValues("ok").Inc()
	g.metrics.ReloadOK.Set(1)
	g.log.Info("configuration reloaded: sites and prices", "path", path, "sites", len(next.Sites),
		slog.String("note", "listen addresses, keys, Redis and timeouts change on restart only"))
	return nil
}
