package catalog

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	productpb "github.com/emporium-shop/emporium/protos/productpb"
)

// Conversions between the contract's types (package emporium) and the
// grains' messages, and the decoding of the product read model.

// productDoc is a product read-model document as stored: the protojson of a
// productpb.Product (with proto names) plus _id, seq, a numeric version and
// the SKUs (actors/product's project).
type productDoc struct {
	ID  string
	raw bson.Raw
}

// UnmarshalBSON keeps the document to decode it as a product later.
func (d *productDoc) UnmarshalBSON(b []byte) error {
	d.raw = append(bson.Raw(nil), b...)
	id, ok := d.raw.Lookup("_id").StringValueOK()
	if !ok {
		return emporium.Errorf(emporium.EINTERNAL, "catalog: a product document has no string _id")
	}
	d.ID = id
	return nil
}

// message decodes the document into the grain's answer type. Relaxed
// extended JSON writes numbers as JSON numbers and everything else the
// projection stored (strings, arrays, objects) as is, which protojson reads
// back; the read model's own fields (_id, seq, skus) are ignored.
func (d *productDoc) message() (*productpb.Product, error) {
	js, err := bson.MarshalExtJSON(d.raw, false, false)
	if err != nil {
		return nil, emporium.Wrap("catalog: decode product document "+d.ID, err)
	}
	var p productpb.Product
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(js, &p); err != nil {
		return nil, emporium.Wrap("catalog: decode product document "+d.ID, err)
	}
	return &p, nil
}

func (d *productDoc) product() (emporium.Product, error) {
	p, err := d.message()
	if err != nil {
		return emporium.Product{}, err
	}
	return productOf(p), nil
}

// productOf presents a grain's product. Slices and maps are never nil, so
// that the JSON shows empty lists rather than nulls.
func productOf(p *productpb.Product) emporium.Product {
	out := emporium.Product{
		ID: p.Id, VendorID: p.VendorId, Title: p.Title, Description: p.Description, Brand: p.Brand,
		CategoryID: p.CategoryId, Status: p.Status, Version: p.Version,
		Images:     make([]emporium.Image, len(p.Images)),
		Attributes: map[string]string{},
		Options:    make([]emporium.Option, len(p.Options)),
		Variants:   make([]emporium.Variant, len(p.Variants)),
		Rating:     emporium.Rating{Average: p.Rating.GetAverage(), Count: p.Rating.GetCount()},
		CreatedAt:  p.CreatedAt.AsTime().UTC(),
		UpdatedAt:  p.UpdatedAt.AsTime().UTC(),
	}
	for i, img := range p.Images {
		out.Images[i] = emporium.Image{URL: img.Url, Alt: img.Alt}
	}
	for k, v := range p.Attributes {
		out.Attributes[k] = v
	}
	for i, o := range p.Options {
		out.Options[i] = emporium.Option{Name: o.Name, Values: append([]string{}, o.Values...)}
	}
	for i, v := range p.Variants {
		out.Variants[i] = emporium.Variant{SKU: v.Sku, Options: map[string]string{}, Price: moneyOf(v.Price)}
		for k, val := range v.Options {
			out.Variants[i].Options[k] = val
		}
		if v.CompareAtPrice != nil {
			m := moneyOf(v.CompareAtPrice)
			out.Variants[i].CompareAtPrice = &m
		}
	}
	return out
}

func moneyOf(m *productpb.Money) emporium.Money {
	return emporium.Money{Amount: m.GetAmount(), Currency: m.GetCurrency()}
}

func imagesPB(in []emporium.Image) []*productpb.Image {
	out := make([]*productpb.Image, len(in))
	for i, img := range in {
		out[i] = &productpb.Image{Url: img.URL, Alt: img.Alt}
	}
	return out
}

func optionsPB(in []emporium.Option) []*productpb.Option {
	out := make([]*productpb.Option, len(in))
	for i, o := range in {
		out[i] = &productpb.Option{Name: o.Name, Values: o.Values}
	}
	return out
}

func variantsPB(in []emporium.VariantInput) []*productpb.VariantInput {
	out := make([]*productpb.VariantInput, len(in))
	for i, v := range in {
		out[i] = &productpb.VariantInput{Sku: v.SKU, Options: v.Options, PriceAmount: v.Price}
		if v.CompareAtPrice != nil {
			out[i].CompareAtAmount = wrapperspb.Int64(*v.CompareAtPrice)
		}
	}
	return out
}

func stringValue(s *string) *wrapperspb.StringValue {
	if s == nil {
		return nil
	}
	return wrapperspb.String(*s)
}
