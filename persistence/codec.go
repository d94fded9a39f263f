package persistence

import (
	"reflect"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// EncodeDocument encodes doc as BSON and returns it with _id and the given
// counter field (version or seq) set first, and doc's own fields of those
// names left out. Both backends store documents in this form, so a value
// decodes the same wherever it was stored.
func EncodeDocument(doc any, id, counter string, value int64) (bson.Raw, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, err
	}
	elems, err := bson.Raw(raw).Elements()
	if err != nil {
		return nil, err
	}
	stored := make(bson.D, 0, len(elems)+2)
	stored = append(stored, bson.E{Key: "_id", Value: id}, bson.E{Key: counter, Value: value})
	for _, e := range elems {
		if key := e.Key(); key != "_id" && key != counter {
			stored = append(stored, bson.E{Key: key, Value: e.Value()})
		}
	}
	return bson.Marshal(stored)
}

// DecodeInto replaces the slice into points to with the decoded documents,
// one element each, for GetMany and List. into must be a non-nil pointer
// to a slice whose elements a document decodes into (structs, maps,
// bson.Raw).
func DecodeInto(op, collection string, raws []bson.Raw, into any) error {
	if err := CheckSliceTarget(op, into); err != nil {
		return err
	}
	out := reflect.ValueOf(into).Elem()
	elem := out.Type().Elem()
	decoded := reflect.MakeSlice(out.Type(), 0, len(raws))
	for _, raw := range raws {
		v := reflect.New(elem)
		if err := bson.Unmarshal(raw, v.Interface()); err != nil {
			id, _ := raw.Lookup("_id").StringValueOK()
			return Corrupt(op, err, "cannot decode %s %q", collection, id)
		}
		decoded = reflect.Append(decoded, v.Elem())
	}
	out.Set(decoded)
	return nil
}

// CheckSliceTarget reports, as DecodeInto would, whether into can receive
// documents, so that a query can refuse a bad target before it runs.
func CheckSliceTarget(op string, into any) error {
	v := reflect.ValueOf(into)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Slice {
		return Invalid(op, "documents decode into a pointer to a slice, not %T", into)
	}
	return nil
}

// Unique returns ids without repeats and empty ids, in first-seen order.
func Unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
