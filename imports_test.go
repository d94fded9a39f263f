package emporium_test

import (
	"os/exec"
	"strings"
	"testing"
)

// module is the import path prefix of Emporium's own packages.
const module = "github.com/emporium-shop/emporium"

// forbidden lists, for each package tree, the trees it must not import
// (DESIGN §3). A rule names path prefixes below the module.
var forbidden = map[string][]string{
	"protos":      {"", "actors", "gateway", "node", "cmd", "persistence", "search", "payments", "auth", "mail"},
	"persistence": {"actors", "gateway", "node", "cmd"},
	"search":      {"actors", "gateway", "node", "cmd"},
	"payments":    {"actors", "gateway", "node", "cmd"},
	"auth":        {"actors", "gateway", "node", "cmd"},
	"mail":        {"actors", "gateway", "node", "cmd"},
	// Pricing rules (docs/checkout.md), which need no layer or store.
	"checkout": {"actors", "gateway", "node", "cmd", "persistence", "search", "payments"},
	// Redis infrastructure both the actors and the gateway use.
	"ratelimit": {"actors", "gateway", "node", "cmd"},
	"live":      {"actors", "gateway", "node", "cmd"},
	"actors":    {"gateway", "node", "cmd", "persistence/sqlitestore", "persistence/mongostore", "persistence/ferrettest"},
	"gateway":   {"actors", "node", "cmd", "persistence/sqlitestore", "persistence/mongostore", "persistence/ferrettest"},
	"node":      {"cmd"},
}

// TestImportRules keeps the dependency rules of DESIGN §3 true: the layers
// import only downwards, and nothing but the binaries (cmd, and the load
// tools under tools/) and node's own sub-packages imports node. The root package
// (the shared error vocabulary) imports nothing of ours.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := rel(imp)
			checked++
			if pkg == "" {
				t.Errorf("the root package imports %s; it must import nothing of ours", dep)
			}
			if under(dep, "node") && !under(pkg, "cmd") && !under(pkg, "node") && !under(pkg, "tools") {
				t.Errorf("%s imports %s; only the binaries (cmd, tools) may import node", pkg, dep)
			}
			if under(dep, "persistence/ferrettest") && !strings.HasSuffix(pkg, "test") {
				t.Errorf("%s imports %s; only tests may start FerretDB", pkg, dep)
			}
			for tree, bans := range forbidden {
				if !under(pkg, tree) {
					continue
				}
				for _, ban := range bans {
					if ban == "" && dep == "" || ban != "" && under(dep, ban) && !under(dep, tree) {
						t.Errorf("%s imports %s; DESIGN §3 forbids %s -> %s", pkg, dep, tree, ban)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no internal imports found; is go list working?")
	}
}

// rel returns an import path relative to the module ("" for the root).
func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

// under reports whether pkg is tree or inside it.
func under(pkg, tree string) bool {
	return pkg == tree || strings.HasPrefix(pkg, tree+"/")
}

// TestBinaryLinksNoFerretDB keeps FerretDB, which only tests use to stand
// in for MongoDB, out of the emporium binary.
func TestBinaryLinksNoFerretDB(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/emporium").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/FerretDB/") {
			t.Fatalf("the emporium binary links %s", dep)
		}
	}
}
