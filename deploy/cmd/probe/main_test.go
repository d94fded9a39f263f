package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDefaultURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":             "http://127.0.0.1:8080/readyz",
		":8080":        "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000": "http://127.0.0.1:9000/readyz",
	} {
		if got := defaultURL(addr); got != want {
			t.Errorf("defaultURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := probe(srv.URL+"/readyz", time.Second); err != nil {
		t.Errorf("ready server: %v", err)
	}
	if err := probe(srv.URL+"/other", time.Second); err == nil {
		t.Error("a 503 passed the probe")
	}
	srv.Close()
	if err := probe(srv.URL+"/readyz", time.Second); err == nil {
		t.Error("a closed server passed the probe")
	}
}
