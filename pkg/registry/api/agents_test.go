package api

import (
	"net/http"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// TestRegisterAgentSSRF: POST /v1/agents refuses, with 400
// invalid_agent_url and never a 500, agent URLs that would point the
// gateways at internal addresses, however they are written.
func TestRegisterAgentSSRF(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.signUp("a")
	for _, u := range []string{
		"https://169.254.169.254", "https://169.254.169.254/latest/meta-data",
		"https://10.0.0.1", "https://192.168.1.1", "https://100.64.0.1", "https://172.16.0.1",
		"https://[fd00::1]", "https://[fe80::1]", "https://[::ffff:10.0.0.1]",
		"https://127.1", "https://2130706433", "https://0x7f.1", "https://0177.0.0.1", "https://0.0.0.0", "https://0",
		"https://[::]", "https://8.8.8.8", "https://198.18.0.1", "https://224.0.0.1",
		"https://nowhere.invalid", "https://intranet", "https://1.2.3.4.5",
		"https://localhost.localdomain.", "https://%31%32%37.0.0.1",
	} {
		t.Run(u, func(t *testing.T) {
			e.wantError(http.StatusBadRequest, "invalid_agent_url", "POST", "/v1/agents", op.token, keydir.AgentRequest{URL: u})
		})
	}
	// The env allows http to loopback for its hosted directories, which
	// allow-lists loopback only: 127.0.0.1 registers, its neighbours do not.
	if status, body, _ := e.call("POST", "/v1/agents", op.token, keydir.AgentRequest{URL: "https://127.0.0.1:8443/jwks.json"}); status != http.StatusCreated {
		t.Fatalf("allow-listed loopback: %d %s", status, body)
	}
	if status, body, _ := e.call("POST", "/v1/agents", op.token, keydir.AgentRequest{URL: "https://signer.example"}); status != http.StatusCreated {
		t.Fatalf("public name: %d %s", status, body)
	}
}
