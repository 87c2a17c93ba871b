package finance

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"

	"github.com/paycrawl/paycrawl/internal/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// pageNames are the pages, each templates/<name>.html inside
// templates/layout.html.
var pageNames = []string{"login", "day", "invoice", "confirm", "audit", "error", "payouts"}

// pages are the parsed page templates.
type pages struct {
	t map[string]*template.Template
}

func loadPages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, err
		}
		p.t[n] = t
	}
	return p, nil
}

// pageData is what every page gets.
type pageData struct {
	Title string
	// User is the signed-in person; nil on the login page.
	User *session
	// CSRF is the session's token, for every form.
	CSRF string
	// Flash is a message at the top; FlashKind "ok", "info" or "error".
	Flash, FlashKind string
	// Page is the page's own data.
	Page any
	// Payouts says the payouts page exists (the top bar links to it).
	Payouts bool
}

// render writes page name with status. The page is rendered into a buffer
// first, so a template error gives a clean 500, never half a page.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data *pageData) {
	var buf bytes.Buffer
	if err := p.t[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		httpx.Logger(r.Context()).Error("finance: page template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
