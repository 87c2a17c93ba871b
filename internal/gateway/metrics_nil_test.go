package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// TestNilMetricsOption: a gateway built without Metrics (nil means
// unregistered collectors) counts its refusals, an origin that is down and
// a refused reload without a panic.
func TestNilMetricsOption(t *testing.T) {
	gw := goldenGateway(t, deferred.ProfileReference) // Options.Metrics is nil
	tests := []struct {
		path string
		want int
	}{
		{"/articles/1", http.StatusPaymentRequired}, // unsigned: the offer
		{"/free/x", http.StatusBadGateway},          // free, origin 127.0.0.1:9 is down
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("GET", "http://news.example"+tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("GET %s = %d, want %d", tt.path, rec.Code, tt.want)
		}
	}
	if err := gw.ReloadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file was reloaded")
	}
}
