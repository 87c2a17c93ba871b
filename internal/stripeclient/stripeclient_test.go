package stripeclient

import "testing"

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("a client without an API key was built")
	}
	if api, err := New(Config{APIKey: "sk_test_123", BaseURL: "http://127.0.0.1:12111/"}); err != nil || api == nil {
		t.Fatalf("New = %v, %v", api, err)
	}
}
