package protos_test

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/emporium-shop/emporium/protos"
)

// wireFile lists every message field and grain method as released; see
// TestWireChangesAreAdditive.
const wireFile = "testdata/wire.txt"

var updateWire = flag.Bool("update-wire", false, "add the current fields and methods to "+wireFile)

// TestWireChangesAreAdditive holds the rule of rolling upgrades
// (docs/operations.md): protobuf messages and grain services change only by
// addition, because members of the old and the new build talk to each other
// and read each other's journals. Every line of testdata/wire.txt (a field:
// message, number, name, kind, cardinality; a method: service, index, name,
// types) must still be true of the linked code. A new field or method is
// added to the file with `go test ./protos -run TestWireChangesAreAdditive
// -update-wire`; a line that no longer holds (a field removed, renumbered or
// retyped, a method moved to another index) fails, and is a breaking change.
func TestWireChangesAreAdditive(t *testing.T) {
	current := wireLines()
	raw, err := os.ReadFile(wireFile)
	if err != nil && !*updateWire {
		t.Fatalf("reading %s: %v (create it with -update-wire)", wireFile, err)
	}
	var released []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			released = append(released, line)
		}
	}
	have := make(map[string]bool, len(current))
	for _, l := range current {
		have[l] = true
	}
	for _, l := range released {
		if !have[l] {
			t.Errorf("breaking wire change: %q no longer holds; change protobuf messages only by adding fields and methods (docs/operations.md, Rolling upgrades)", l)
		}
	}
	if *updateWire {
		merged := slices.Compact(slices.Sorted(slices.Values(append(released, current...))))
		body := "# Every protobuf field and grain method as released; TestWireChangesAreAdditive (protos/wire_test.go)\n" +
			"# checks that each line still holds. Add lines with -update-wire; never edit or remove one.\n" +
			strings.Join(merged, "\n") + "\n"
		if err := os.WriteFile(wireFile, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	known := make(map[string]bool, len(released))
	for _, l := range released {
		known[l] = true
	}
	for _, l := range current {
		if !known[l] {
			t.Errorf("%q is new: record it with `go test ./protos -run TestWireChangesAreAdditive -update-wire`", l)
		}
	}
}

// wireLines describes every field and method of Emporium's linked protobuf
// files, one line each.
func wireLines() []string {
	var lines []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "emporium.") {
			return true
		}
		var messages func(ms protoreflect.MessageDescriptors)
		messages = func(ms protoreflect.MessageDescriptors) {
			for i := range ms.Len() {
				m := ms.Get(i)
				if m.IsMapEntry() {
					continue
				}
				fields := m.Fields()
				for j := range fields.Len() {
					f := fields.Get(j)
					kind := f.Kind().String()
					if md := f.Message(); md != nil {
						kind = string(md.FullName())
					} else if ed := f.Enum(); ed != nil {
						kind = "enum " + string(ed.FullName())
					}
					card := f.Cardinality().String()
					if f.IsMap() {
						card = "map"
					}
					lines = append(lines, fmt.Sprintf("field %s %d %s %s %s", m.FullName(), f.Number(), f.Name(), kind, card))
				}
				messages(m.Messages())
			}
		}
		messages(fd.Messages())
		services := fd.Services()
		for i := range services.Len() {
			s := services.Get(i)
			for j := range s.Methods().Len() {
				md := s.Methods().Get(j)
				lines = append(lines, fmt.Sprintf("method %s %d %s %s %s", s.FullName(), j, md.Name(), md.Input().FullName(), md.Output().FullName()))
			}
		}
		return true
	})
	slices.Sort(lines)
	return lines
}
