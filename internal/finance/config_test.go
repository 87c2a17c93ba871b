package finance

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	tests := []struct {
		name   string
		cfg    Config
		errHas string
	}{
		{"zero", Config{}, ""},
		{"tokens", Config{Tokens: []Token{{"alice", RoleFinance, hash}, {"bot.ci", RoleViewer, other}}}, ""},
		{"bad role", Config{Tokens: []Token{{"alice", "admin", hash}}}, "role"},
		{"bad name", Config{Tokens: []Token{{"alice smith", RoleFinance, hash}}}, "name"},
		{"no name", Config{Tokens: []Token{{"", RoleFinance, hash}}}, "name"},
		{"twice", Config{Tokens: []Token{{"alice", RoleFinance, hash}, {"alice", RoleViewer, other}}}, "listed twice"},
		{"same token", Config{Tokens: []Token{{"alice", RoleFinance, hash}, {"bob", RoleViewer, strings.ToUpper(hash)}}}, "same token"},
		{"not hex", Config{Tokens: []Token{{"alice", RoleFinance, "secret"}}}, "64 hex"},
		{"short hash", Config{Tokens: []Token{{"alice", RoleFinance, hash[:62]}}}, "64 hex"},
		{"short secret", Config{SessionSecret: "short"}, "session_secret"},
		{"negative ttl", Config{SessionTTL: -1}, "session_ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("Validate = %v, want %q", err, tt.errHas)
			}
		})
	}
}
