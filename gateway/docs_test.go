package gateway_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/emporium-shop/emporium/gateway"
	"github.com/emporium-shop/emporium/gateway/gatewaytest"
)

// TestDocsPage checks that /docs is the reference page: HTML that loads the
// embedded Redoc bundle from this server and the contract from this origin,
// under a policy of its own that lets nothing come from anywhere else, while
// the API keeps its "default-src 'none'".
func TestDocsPage(t *testing.T) {
	s := gateway.New(gateway.Config{})

	resp, body := gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, "/docs", nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Equal(t, gateway.DocsCSP, csp)
	for _, directive := range strings.Split(csp, ";") {
		// Every source the page may use is this origin, inline styles, or
		// data: and blob: URLs made in the page: never another host.
		for _, source := range strings.Fields(directive)[1:] {
			assert.Contains(t, []string{"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}, source, "in %q", directive)
		}
	}
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-eval")
	page := string(body)
	assert.Contains(t, page, `<redoc spec-url="/openapi.yaml"`)
	assert.Contains(t, page, `<script src="`+gateway.DocsScriptPath+`"></script>`)
	assert.NotContains(t, page, "http://", "the page names no other origin")
	assert.NotContains(t, page, "https://", "the page names no other origin")

	resp, script := gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, gateway.DocsScriptPath, nil))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Greater(t, len(script), 500_000, "the whole standalone bundle")
	assert.True(t, bytes.Contains(script, []byte("Redoc")), "Redoc's bundle")

	// The rest of the API keeps its strict policy.
	resp, _ = gatewaytest.Do(t, s, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, "default-src 'none'; frame-ancestors 'none'", resp.Header.Get("Content-Security-Policy"))
}

// TestDocsRenderInChromium opens /docs in a headless Chromium, where one is
// installed, and checks the screenshot shows a rendered page: Redoc ran under
// the page's policy, fetched the contract and drew it. Without Chromium it
// skips, saying so.
func TestDocsRenderInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no headless Chromium on this machine (chromium, chromium-browser or google-chrome): the /docs screenshot is not taken")
	}
	srv := httptest.NewServer(gateway.New(gateway.Config{}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	shot := filepath.Join(dir, "docs.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1280,900", "--virtual-time-budget=15000", "--run-all-compositor-stages-before-draw",
		"--screenshot="+shot, srv.URL+"/docs")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)
	if dir := os.Getenv("DOCS_SCREENSHOT_DIR"); dir != "" {
		// A person can look at what the test saw.
		raw, err := os.ReadFile(shot)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "docs.png"), raw, 0o644))
	}

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	// A page Redoc drew has a side menu, headings and text: many colours
	// across the picture. A blank or error page has a handful.
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	assert.Greater(t, len(colours), 50, "the screenshot looks blank: Redoc did not render (check the page's CSP in the browser console)")
}
