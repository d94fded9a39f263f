package mongostore

import (
	"errors"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestPerDocument(t *testing.T) {
	t.Parallel()
	dup := mongo.WriteError{Index: 1, Code: 11000, Message: "E11000 duplicate key"}
	other := mongo.WriteError{Index: 2, Code: 2, Message: "bad value"}
	network := errors.New("connection reset")

	tests := []struct {
		name string
		err  error
		want []string // per document: "" success, "dup", "other", "all"
	}{
		{"success", nil, []string{"", "", ""}},
		{"per document", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: dup}, {WriteError: other}}}, []string{"", "dup", "other"}},
		{"write concern", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: dup}}, WriteConcernError: &mongo.WriteConcernError{Code: 64}}, []string{"all", "all", "all"}},
		{"index out of range", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Index: 7, Code: 2}}}}, []string{"all", "all", "all"}},
		{"whole batch", network, []string{"all", "all", "all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := perDocument(tt.err, 3)
			for i, err := range got {
				var kind string
				switch {
				case err == nil:
				case reflect.DeepEqual(err, tt.err):
					kind = "all"
				case isDuplicateWrite(err):
					kind = "dup"
				default:
					kind = "other"
				}
				if kind != tt.want[i] {
					t.Errorf("document %d: got %q (%v), want %q", i, kind, err, tt.want[i])
				}
			}
			if tt.name == "write concern" && isDuplicateWrite(got[1]) {
				t.Error("a batch-level failure was taken for a lost race")
			}
		})
	}
}
