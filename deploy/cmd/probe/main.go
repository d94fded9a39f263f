// Command probe is the health check of the container image. The image is
// distroless (no shell, no curl), so Docker Compose's healthcheck runs this
// instead: it GETs one URL and exits 0 on a 2xx answer, 1 otherwise.
//
//	probe                              # http://127.0.0.1:PORT/readyz, PORT from HTTP_ADDR (8080)
//	probe http://127.0.0.1:8080/healthz
//
// Kubernetes needs none of this: its probes are httpGet.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	url := defaultURL(os.Getenv("HTTP_ADDR"))
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	if err := probe(url, 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// defaultURL is the node's /readyz on loopback, at the port of HTTP_ADDR.
func defaultURL(httpAddr string) string {
	port := "8080"
	if _, p, err := net.SplitHostPort(httpAddr); err == nil && p != "" {
		port = p
	}
	return "http://127.0.0.1:" + port + "/readyz"
}

func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
