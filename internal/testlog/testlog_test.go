package testlog

import (
	"context"
	"log/slog"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		env       string
		wantDebug bool
	}{
		{"", false},
		{"1", true},
	}
	for _, tt := range tests {
		t.Setenv(Env, tt.env)
		if got := New().Enabled(context.Background(), slog.LevelDebug); got != tt.wantDebug {
			t.Errorf("%s=%q: debug enabled %v, want %v", Env, tt.env, got, tt.wantDebug)
		}
	}
}
