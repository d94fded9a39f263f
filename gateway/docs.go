package gateway

import (
	_ "embed"
	"net/http"
)

// The API reference: GET /docs renders openapi.yaml with Redoc (MIT, see
// docs/REDOC-LICENSE), whose standalone bundle is embedded, so the page
// works on a machine with no network and sends no request anywhere but to
// this server.

// redocJS is Redoc's standalone bundle, redoc.standalone.js of the npm
// package redoc (RedocVersion).
//
//go:embed docs/redoc.standalone.js
var redocJS []byte

// RedocVersion is the version of the embedded Redoc bundle.
const RedocVersion = "2.5.4"

// DocsScriptPath is where the page loads the bundle from.
const DocsScriptPath = "/docs/redoc.standalone.js"

// DocsCSP is the Content-Security-Policy of the reference page. The rest of
// the API keeps "default-src 'none'" (withSecurityHeaders): this page needs
// its own script, the contract from this origin, the inline styles and the
// web worker Redoc makes, and nothing from any other origin.
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// docsPage is the reference page: Redoc pointed at /openapi.yaml.
const docsPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emporium API reference</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.yaml" hide-download-button="false" native-scrollbars="true"></redoc>
<script src="` + DocsScriptPath + `"></script>
</body>
</html>
`

func serveDocs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Security-Policy", DocsCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(docsPage))
	return nil
}

func serveDocsScript(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	// The bundle changes only with the binary; a day's caching spares a
	// reader the megabyte on every visit.
	h.Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(redocJS)
	return nil
}
