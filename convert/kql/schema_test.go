package kql

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-detect/vigil/internal/corpus"
)

var update = flag.Bool("update", false, "rewrite schemas.json from the corpus")

// TestSchemasMatchCorpus: the embedded schemas.json is what
// GenerateSchemas makes of the corpus's kusto-schemas/schemas.json.
func TestSchemasMatchCorpus(t *testing.T) {
	src := corpus.Require(t, "kusto-schemas", "schemas.json")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := GenerateSchemas(data)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(filepath.Join(".", "schemas.json"), got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, schemasJSON) {
		t.Fatalf("schemas.json differs from what %s generates (go test ./convert/kql -run TestSchemasMatchCorpus -update rewrites it)", src)
	}
	for _, tbl := range []string{"DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents", "DeviceImageLoadEvents", "imProcessCreate", "imFileEvent", "imRegistry", "imNetworkSession", "imWebSession", "_Im_Dns", "SecurityEvent"} {
		s, ok := TableSchema(tbl)
		if !ok || len(s.Columns) == 0 || EmbeddedSchemas().Sources[s.Source].Date == "" {
			t.Errorf("%s: no schema with columns and a dated source", tbl)
		}
	}
}
