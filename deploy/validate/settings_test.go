package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// root is the repository's root, seen from this package.
const root = "../.."

// settingRow matches one row of node/config.go's settings table:
// {"HTTP_ADDR", "http-addr", ":8080", ...}.
var settingRow = regexp.MustCompile(`(?m)^\s*\{"([A-Z][A-Z0-9_]*)", "[a-z0-9-]+", `)

// runtimeEnv are the variables a container may set that are not node
// settings but read by the Go runtime.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true}

// nodeSettings returns the environment variables node/config.go knows, read
// from its text so that this module does not import the service.
func nodeSettings(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "node", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range settingRow.FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	// The table has some 40 rows; far fewer means the pattern no longer
	// matches the file and every check below would pass vacuously.
	for _, must := range []string{"HTTP_ADDR", "METRICS_ADDR", "CLUSTER_PROVIDER", "CLUSTER_PEERS", "MONGODB_URI", "TRUSTED_PROXIES", "JWT_KEY_FILE"} {
		if !names[must] {
			t.Fatalf("node/config.go: setting %s not found (found %d settings): does settingRow still match the table?", must, len(names))
		}
	}
	return names
}

// checkEnvNames fails for each name that is neither a node setting nor a Go
// runtime variable.
func checkEnvNames(t *testing.T, where string, names []string, known map[string]bool) {
	t.Helper()
	for _, n := range names {
		if !known[n] && !runtimeEnv[n] {
			t.Errorf("%s sets %s, which node/config.go does not know (a typo, or a setting that does not exist)", where, n)
		}
	}
}
