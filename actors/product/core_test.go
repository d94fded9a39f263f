package product

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors"
	"github.com/emporium-shop/emporium/actors/actorstest"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const vendor = "vendor-1"

var (
	owner = &pb.Caller{VendorId: vendor}
	other = &pb.Caller{VendorId: "vendor-2"}
	admin = &pb.Caller{VendorId: "admin-1", AsAdmin: true}
)

// given builds a state by applying events, the way a replay does.
func given(events ...proto.Message) *pb.State { return actorstest.Given(&Spec, "p1", events...) }

// decideAsShell decides cmd as the shell does: what expired first, then
// the command id, then decide.
func decideAsShell(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	return actorstest.Decide(&Spec, s, cmd, now, func(s *pb.State) ([]proto.Message, error) { return decide(s, cmd, now) })
}

func sizeColor() []*pb.Option {
	return []*pb.Option{{Name: "size", Values: []string{"S", "M"}}, {Name: "color", Values: []string{"red", "blue"}}}
}

func variant(sku string, price int64, opts ...string) *pb.VariantInput {
	v := &pb.VariantInput{Sku: sku, PriceAmount: price, Options: map[string]string{}}
	for i := 0; i+1 < len(opts); i += 2 {
		v.Options[opts[i]] = opts[i+1]
	}
	return v
}

// fullVariants is one variant per size×color combination.
func fullVariants() []*pb.VariantInput {
	return []*pb.VariantInput{
		variant("TS-S-R", 1999, "size", "S", "color", "red"),
		variant("TS-S-B", 1999, "size", "S", "color", "blue"),
		variant("TS-M-R", 2199, "size", "M", "color", "red"),
		variant("TS-M-B", 2199, "size", "M", "color", "blue"),
	}
}

func createReq(mut ...func(*pb.CreateRequest)) *pb.CreateRequest {
	c := &pb.CreateRequest{
		CommandId:   "create-1",
		VendorId:    vendor,
		Title:       "T-shirt",
		Description: "Soft.\nCotton.",
		Brand:       "Acme",
		CategoryId:  "apparel",
		Images:      []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}},
		Attributes:  map[string]string{"material": "cotton"},
		Options:     sizeColor(),
		Variants:    fullVariants(),
		Currency:    "USD",
	}
	for _, m := range mut {
		m(c)
	}
	return c
}

// createdEv is the event a valid createReq yields at t0.
func createdEv(mut ...func(*pb.CreateRequest)) *pb.ProductCreated {
	evs, err := decideAsShell(newState("p1"), createReq(mut...), t0)
	if err != nil {
		panic(err)
	}
	return evs[0].(*pb.ProductCreated)
}

func storedVariants(in ...*pb.VariantInput) []*pb.Variant {
	out := make([]*pb.Variant, len(in))
	for i, v := range in {
		out[i] = &pb.Variant{Sku: v.Sku, Options: v.Options, PriceAmount: v.PriceAmount, CompareAtAmount: v.CompareAtAmount}
	}
	return out
}

type check = actorstest.Check

// runChecks runs a table of checks against the core, decided as the shell
// decides at t0.
func runChecks(t *testing.T, tests []check) {
	t.Helper()
	actorstest.RunChecks(t, tests, given, func(s *pb.State, cmd proto.Message) ([]proto.Message, error) {
		return decideAsShell(s, cmd, t0)
	})
}

func TestDecideCreate(t *testing.T) {
	created := []proto.Message{createdEv()}
	long := func(n int) string { return strings.Repeat("x", n) }
	runChecks(t, []check{
		{Name: "create", Cmd: createReq(), Want: []proto.Message{&pb.ProductCreated{
			CommandId: "create-1", VendorId: vendor, Title: "T-shirt", Description: "Soft.\nCotton.", Brand: "Acme",
			CategoryId: "apparel", Images: []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}},
			Attributes: map[string]string{"material": "cotton"}, Options: sizeColor(),
			Variants: storedVariants(fullVariants()...), Currency: "USD", At: timestamppb.New(t0),
		}}},
		{Name: "create trims one-line texts", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = "  T-shirt "; c.Brand = " Acme" }),
			Want: []proto.Message{createdEv()}},
		{Name: "create without options", Cmd: createReq(func(c *pb.CreateRequest) {
			c.Options = nil
			c.Variants = []*pb.VariantInput{variant("MUG-1", 900)}
		}), Want: []proto.Message{createdEv(func(c *pb.CreateRequest) {
			c.Options = nil
			c.Variants = []*pb.VariantInput{variant("MUG-1", 900)}
		})}},
		{Name: "create draft without category", Cmd: createReq(func(c *pb.CreateRequest) { c.CategoryId = "" }),
			Want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.CategoryId = "" })}},
		{Name: "create retried", Given: created, Cmd: createReq()},
		{Name: "create again with another id", Given: created,
			Cmd: createReq(func(c *pb.CreateRequest) { c.CommandId = "create-2" }), ErrCode: emporium.ECONFLICT},
		{Name: "create without command id", Cmd: createReq(func(c *pb.CreateRequest) { c.CommandId = "" }),
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
		{Name: "create without vendor", Cmd: createReq(func(c *pb.CreateRequest) { c.VendorId = "" }),
			ErrCode: emporium.EINVALID, Field: "vendor_id", FieldCode: emporium.FieldRequired},
		{Name: "title missing", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = "  " }),
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldRequired},
		{Name: "title too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = long(MaxTitle + 1) }),
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldTooLong},
		{Name: "title of 200 runes", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = strings.Repeat("é", MaxTitle) }),
			Want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Title = strings.Repeat("é", MaxTitle) })}},
		{Name: "title with control character", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = "a\x00b" }),
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldInvalid},
		{Name: "title not utf-8", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = "a\xffb" }),
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldInvalid},
		{Name: "description too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Description = long(MaxDescription + 1) }),
			ErrCode: emporium.EINVALID, Field: "description", FieldCode: emporium.FieldTooLong},
		{Name: "brand too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Brand = long(MaxBrand + 1) }),
			ErrCode: emporium.EINVALID, Field: "brand", FieldCode: emporium.FieldTooLong},
		{Name: "category invalid", Cmd: createReq(func(c *pb.CreateRequest) { c.CategoryId = "a/b" }),
			ErrCode: emporium.EINVALID, Field: "category_id", FieldCode: emporium.FieldInvalid},
		{Name: "currency missing", Cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "" }),
			ErrCode: emporium.EINVALID, Field: "currency", FieldCode: emporium.FieldRequired},
		{Name: "currency lower case", Cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "usd" }),
			ErrCode: emporium.EINVALID, Field: "currency", FieldCode: emporium.FieldUnsupported},
		{Name: "currency unknown", Cmd: createReq(func(c *pb.CreateRequest) { c.Currency = "XXX" }),
			ErrCode: emporium.EINVALID, Field: "currency", FieldCode: emporium.FieldUnsupported},
		{Name: "too many images", Cmd: createReq(func(c *pb.CreateRequest) {
			c.Images = make([]*pb.Image, MaxImages+1)
			for i := range c.Images {
				c.Images[i] = &pb.Image{Url: "https://x.example/a.jpg"}
			}
		}), ErrCode: emporium.EINVALID, Field: "images", FieldCode: emporium.FieldTooMany},
		{Name: "image over http", Cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "http://x.example/a.jpg" }),
			ErrCode: emporium.EINVALID, Field: "images[0].url", FieldCode: emporium.FieldInvalid},
		{Name: "image without host", Cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "https:///a.jpg" }),
			ErrCode: emporium.EINVALID, Field: "images[0].url", FieldCode: emporium.FieldInvalid},
		{Name: "image url missing", Cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "" }),
			ErrCode: emporium.EINVALID, Field: "images[0].url", FieldCode: emporium.FieldRequired},
		{Name: "image url too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Url = "https://x.example/" + long(MaxImageURL) }),
			ErrCode: emporium.EINVALID, Field: "images[0].url", FieldCode: emporium.FieldTooLong},
		{Name: "image alt too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Images[0].Alt = long(MaxImageAlt + 1) }),
			ErrCode: emporium.EINVALID, Field: "images[0].alt", FieldCode: emporium.FieldTooLong},
		{Name: "too many attributes", Cmd: createReq(func(c *pb.CreateRequest) {
			for i := range MaxAttributes {
				c.Attributes[fmt.Sprint("k", i)] = "v"
			}
		}), ErrCode: emporium.EINVALID, Field: "attributes", FieldCode: emporium.FieldTooMany},
		{Name: "attribute key too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{long(MaxAttributeKey + 1): "v"} }),
			ErrCode: emporium.EINVALID, Field: "attributes." + long(MaxAttributeKey+1), FieldCode: emporium.FieldTooLong},
		{Name: "attribute key empty", Cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{" ": "v"} }),
			ErrCode: emporium.EINVALID, Field: "attributes. ", FieldCode: emporium.FieldRequired},
		{Name: "attribute value too long", Cmd: createReq(func(c *pb.CreateRequest) { c.Attributes = map[string]string{"k": long(MaxAttributeValue + 1)} }),
			ErrCode: emporium.EINVALID, Field: "attributes.k", FieldCode: emporium.FieldTooLong},
		{Name: "price zero", Cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = 0 }),
			ErrCode: emporium.EINVALID, Field: "variants[1].price", FieldCode: emporium.FieldOutOfRange},
		{Name: "price too high", Cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice + 1 }),
			ErrCode: emporium.EINVALID, Field: "variants[1].price", FieldCode: emporium.FieldOutOfRange},
		{Name: "price at the limit", Cmd: createReq(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice }),
			Want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants[1].PriceAmount = MaxPrice })}},
		{Name: "compare-at not above price", Cmd: createReq(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(1999) }),
			ErrCode: emporium.EINVALID, Field: "variants[0].compare_at_price", FieldCode: emporium.FieldNotAbovePrice},
		{Name: "compare-at above price", Cmd: createReq(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) }),
			Want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) })}},
		{Name: "several errors at once", Cmd: createReq(func(c *pb.CreateRequest) { c.Title = ""; c.Currency = "" }),
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldRequired},
	})
}

// TestVariantRules covers the option/variant combination rule.
func TestVariantRules(t *testing.T) {
	with := func(opts []*pb.Option, vs ...*pb.VariantInput) *pb.CreateRequest {
		return createReq(func(c *pb.CreateRequest) { c.Options = opts; c.Variants = vs })
	}
	full := fullVariants()
	runChecks(t, []check{
		{Name: "missing combination", Cmd: with(sizeColor(), full[0], full[1], full[2]),
			ErrCode: emporium.EINVALID, Field: "variants", FieldCode: emporium.FieldMissingCombination},
		{Name: "duplicate combination", Cmd: with(sizeColor(), full[0], full[1], full[2], full[3],
			variant("TS-X", 1999, "size", "S", "color", "red")),
			ErrCode: emporium.EINVALID, Field: "variants[4].options", FieldCode: emporium.FieldDuplicateCombination},
		{Name: "duplicate combination instead of a missing one", Cmd: with(sizeColor(), full[0], full[1], full[2],
			variant("TS-X", 1999, "size", "S", "color", "red")),
			ErrCode: emporium.EINVALID, Field: "variants[3].options", FieldCode: emporium.FieldDuplicateCombination},
		{Name: "duplicate sku", Cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-S-R", 1, "size", "M", "color", "blue")),
			ErrCode: emporium.EINVALID, Field: "variants[3].sku", FieldCode: emporium.FieldDuplicate},
		{Name: "unknown option value", Cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-M-G", 1, "size", "M", "color", "green")),
			ErrCode: emporium.EINVALID, Field: "variants[3].options.color", FieldCode: emporium.FieldUnknownValue},
		{Name: "unknown option", Cmd: with(sizeColor(), full[0], full[1], full[2],
			variant("TS-M-B", 1, "size", "M", "color", "blue", "fit", "slim")),
			ErrCode: emporium.EINVALID, Field: "variants[3].options.fit", FieldCode: emporium.FieldUnknownOption},
		{Name: "option not named", Cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS-M-B", 1, "size", "M")),
			ErrCode: emporium.EINVALID, Field: "variants[3].options.color", FieldCode: emporium.FieldMissingOption},
		{Name: "sku missing", Cmd: with(sizeColor(), full[0], full[1], full[2], variant("", 1, "size", "M", "color", "blue")),
			ErrCode: emporium.EINVALID, Field: "variants[3].sku", FieldCode: emporium.FieldRequired},
		{Name: "sku with a space", Cmd: with(sizeColor(), full[0], full[1], full[2], variant("TS M", 1, "size", "M", "color", "blue")),
			ErrCode: emporium.EINVALID, Field: "variants[3].sku", FieldCode: emporium.FieldInvalid},
		{Name: "sku too long", Cmd: with(nil, variant(strings.Repeat("A", MaxSKU+1), 1)),
			ErrCode: emporium.EINVALID, Field: "variants[0].sku", FieldCode: emporium.FieldInvalid},
		{Name: "no variants", Cmd: with(nil),
			ErrCode: emporium.EINVALID, Field: "variants", FieldCode: emporium.FieldRequired},
		{Name: "two variants without options", Cmd: with(nil, variant("A", 1), variant("B", 1)),
			ErrCode: emporium.EINVALID, Field: "variants", FieldCode: emporium.FieldTooMany},
		{Name: "options on a product without options", Cmd: with(nil, variant("A", 1, "size", "S")),
			ErrCode: emporium.EINVALID, Field: "variants[0].options.size", FieldCode: emporium.FieldUnknownOption},
		{Name: "too many options", Cmd: with([]*pb.Option{{Name: "a", Values: []string{"1"}}, {Name: "b", Values: []string{"1"}},
			{Name: "c", Values: []string{"1"}}, {Name: "d", Values: []string{"1"}}}, variant("A", 1)),
			ErrCode: emporium.EINVALID, Field: "options", FieldCode: emporium.FieldTooMany},
		{Name: "duplicate option name", Cmd: with([]*pb.Option{{Name: "size", Values: []string{"S"}}, {Name: "size", Values: []string{"M"}}}, variant("A", 1)),
			ErrCode: emporium.EINVALID, Field: "options[1].name", FieldCode: emporium.FieldDuplicate},
		{Name: "duplicate option value", Cmd: with([]*pb.Option{{Name: "size", Values: []string{"S", "S"}}}, variant("A", 1, "size", "S")),
			ErrCode: emporium.EINVALID, Field: "options[0].values[1]", FieldCode: emporium.FieldDuplicate},
		{Name: "option without values", Cmd: with([]*pb.Option{{Name: "size"}}, variant("A", 1)),
			ErrCode: emporium.EINVALID, Field: "options[0].values", FieldCode: emporium.FieldRequired},
		{Name: "option name missing", Cmd: with([]*pb.Option{{Name: " ", Values: []string{"S"}}}, variant("A", 1)),
			ErrCode: emporium.EINVALID, Field: "options[0].name", FieldCode: emporium.FieldRequired},
		{Name: "too many option values", Cmd: with([]*pb.Option{{Name: "size", Values: manyValues(MaxOptionValues + 1)}}, variant("A", 1, "size", "v0")),
			ErrCode: emporium.EINVALID, Field: "options[0].values", FieldCode: emporium.FieldTooMany},
		{Name: "too many combinations", Cmd: with([]*pb.Option{{Name: "a", Values: manyValues(11)}, {Name: "b", Values: manyValues(10)}}, variant("A", 1)),
			ErrCode: emporium.EINVALID, Field: "options", FieldCode: emporium.FieldTooMany},
		{Name: "too many variants", Cmd: with(nil, manyVariants(MaxVariants+1)...),
			ErrCode: emporium.EINVALID, Field: "variants", FieldCode: emporium.FieldTooMany},
		{Name: "variant order is free", Cmd: with(sizeColor(), full[3], full[1], full[2], full[0]),
			Want: []proto.Message{createdEv(func(c *pb.CreateRequest) { c.Variants = []*pb.VariantInput{full[3], full[1], full[2], full[0]} })}},
	})
}

func manyValues(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("v", i)
	}
	return out
}

func manyVariants(n int) []*pb.VariantInput {
	out := make([]*pb.VariantInput, n)
	for i := range out {
		out[i] = variant(fmt.Sprint("SKU-", i), 100)
	}
	return out
}

func TestDecideUpdate(t *testing.T) {
	created := []proto.Message{createdEv()}
	archived := append(created[:1:1], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	active := append(created[:1:1], &pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0)})
	at := timestamppb.New(t0)
	newSet := &pb.VariantSet{
		Options:  []*pb.Option{{Name: "size", Values: []string{"S", "M"}}},
		Variants: []*pb.VariantInput{variant("TS-S-R", 1999, "size", "S"), variant("TS-M", 2199, "size", "M")},
	}
	runChecks(t, []check{
		{Name: "update title", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{Name: "update only what changed", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Title: wrapperspb.String("T-shirt"), Brand: wrapperspb.String("Other"), Description: wrapperspb.String("Soft.\nCotton.")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Brand: wrapperspb.String("Other"), At: at}}},
		{Name: "update that changes nothing", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Title: wrapperspb.String("T-shirt"), Images: &pb.Images{Items: []*pb.Image{{Url: "https://img.example.com/1.jpg", Alt: "front"}}},
			Attributes: &pb.Attributes{Items: map[string]string{"material": "cotton"}},
			VariantSet: &pb.VariantSet{Options: sizeColor(), Variants: fullVariants()}}},
		{Name: "update with nothing", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner}},
		{Name: "update clears brand", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Brand: wrapperspb.String("")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Brand: wrapperspb.String(""), At: at}}},
		{Name: "update replaces images", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Images: &pb.Images{}},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Images: &pb.Images{Items: []*pb.Image{}}, At: at}}},
		{Name: "update replaces attributes", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Attributes: &pb.Attributes{Items: map[string]string{"fit": "slim"}}},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Attributes: &pb.Attributes{Items: map[string]string{"fit": "slim"}}, At: at}}},
		{Name: "update replaces variants and reports removed skus", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, VariantSet: newSet},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", HasVariantSet: true,
				Options:     []*pb.Option{{Name: "size", Values: []string{"S", "M"}}},
				Variants:    storedVariants(variant("TS-S-R", 1999, "size", "S"), variant("TS-M", 2199, "size", "M")),
				RemovedSkus: []string{"TS-S-B", "TS-M-R", "TS-M-B"}, AddedSkus: []string{"TS-M"}, At: at}}},
		{Name: "update variants breaking the rule", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			VariantSet: &pb.VariantSet{Options: sizeColor(), Variants: fullVariants()[:3]}},
			ErrCode: emporium.EINVALID, Field: "variants", FieldCode: emporium.FieldMissingCombination},
		{Name: "update retried", Given: append(created[:1:1], &pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}),
			Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")}},
		{Name: "update with expected version", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{Name: "update with stale version", Given: active, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 1, Title: wrapperspb.String("Tee")},
			ErrCode: emporium.ECONFLICT},
		{Name: "update with future version", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, ExpectedVersion: 9},
			ErrCode: emporium.ECONFLICT},
		{Name: "update invalid title", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("")},
			ErrCode: emporium.EINVALID, Field: "title", FieldCode: emporium.FieldRequired},
		{Name: "update invalid image", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner,
			Images: &pb.Images{Items: []*pb.Image{{Url: "ftp://x/y"}}}},
			ErrCode: emporium.EINVALID, Field: "images[0].url", FieldCode: emporium.FieldInvalid},
		{Name: "update clears category of a draft", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, CategoryId: wrapperspb.String("")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", CategoryId: wrapperspb.String(""), At: at}}},
		{Name: "update clears category of an active product", Given: active, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, CategoryId: wrapperspb.String("")},
			ErrCode: emporium.EINVALID, Field: "category_id", FieldCode: emporium.FieldRequired},
		{Name: "update active product", Given: active, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("Tee"), At: at}}},
		{Name: "update archived", Given: archived, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			ErrCode: emporium.ECONFLICT},
		{Name: "update without command id", Given: created, Cmd: &pb.UpdateRequest{Caller: owner, Title: wrapperspb.String("Tee")},
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
		{Name: "update not created", Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: owner, Title: wrapperspb.String("Tee")},
			ErrCode: emporium.ENOTFOUND},
	})
}

func TestDecideStatusAndRating(t *testing.T) {
	created := []proto.Message{createdEv()}
	noCategory := []proto.Message{createdEv(func(c *pb.CreateRequest) { c.CategoryId = "" })}
	published := append(created[:1:1], &pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0)})
	archived := append(created[:1:1], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	publishedThenArchived := append(published[:2:2], &pb.ProductArchived{CommandId: "a1", At: timestamppb.New(t0)})
	at := timestamppb.New(t0)
	runChecks(t, []check{
		{Name: "publish", Given: created, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner},
			Want: []proto.Message{&pb.ProductPublished{CommandId: "p1", At: at}}},
		{Name: "publish retried", Given: published, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}},
		{Name: "publish retried after archive", Given: publishedThenArchived, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}},
		{Name: "publish active", Given: published, Cmd: &pb.PublishRequest{CommandId: "p2", Caller: owner}},
		{Name: "publish archived", Given: archived, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}, ErrCode: emporium.ECONFLICT},
		{Name: "publish without category", Given: noCategory, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner},
			ErrCode: emporium.EINVALID, Field: "category_id", FieldCode: emporium.FieldRequired},
		{Name: "publish without command id", Given: created, Cmd: &pb.PublishRequest{Caller: owner},
			ErrCode: emporium.EINVALID, Field: "command_id", FieldCode: emporium.FieldRequired},
		{Name: "publish not created", Cmd: &pb.PublishRequest{CommandId: "p1", Caller: owner}, ErrCode: emporium.ENOTFOUND},
		{Name: "archive draft", Given: created, Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner},
			Want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		{Name: "archive active", Given: published, Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner},
			Want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		{Name: "archive retried", Given: archived, Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner}},
		{Name: "archive archived", Given: archived, Cmd: &pb.ArchiveRequest{CommandId: "a2", Caller: owner}},
		{Name: "archive not created", Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: owner}, ErrCode: emporium.ENOTFOUND},
		{Name: "get", Given: created, Cmd: &pb.GetRequest{}},
		{Name: "get not created", Cmd: &pb.GetRequest{}, ErrCode: emporium.ENOTFOUND},
		{Name: "get for vendor not created", Cmd: &pb.GetForVendorRequest{Caller: owner}, ErrCode: emporium.ENOTFOUND},
		{Name: "unknown command", Given: created, Cmd: &pb.State{}, ErrCode: emporium.EINTERNAL},
	})
}

// TestOwnership: a vendor reads and changes only their own products; anyone
// else is told the product does not exist; an admin may do anything.
func TestOwnership(t *testing.T) {
	created := []proto.Message{createdEv()}
	at := timestamppb.New(t0)
	var tests []check
	for _, c := range []struct {
		name   string
		caller *pb.Caller
	}{{"another vendor", other}, {"no caller", nil}, {"empty vendor", &pb.Caller{}}} {
		tests = append(tests,
			check{Name: c.name + " updates", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: c.caller, Title: wrapperspb.String("X")}, ErrCode: emporium.ENOTFOUND},
			check{Name: c.name + " publishes", Given: created, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: c.caller}, ErrCode: emporium.ENOTFOUND},
			check{Name: c.name + " archives", Given: created, Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: c.caller}, ErrCode: emporium.ENOTFOUND},
			check{Name: c.name + " reads", Given: created, Cmd: &pb.GetForVendorRequest{Caller: c.caller}, ErrCode: emporium.ENOTFOUND},
		)
	}
	tests = append(tests,
		check{Name: "another vendor retrying the owner's command id", Given: append(created[:1:1], &pb.ProductUpdated{CommandId: "u1", At: at}),
			Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: other}, ErrCode: emporium.ENOTFOUND},
		check{Name: "admin updates", Given: created, Cmd: &pb.UpdateRequest{CommandId: "u1", Caller: admin, Title: wrapperspb.String("X")},
			Want: []proto.Message{&pb.ProductUpdated{CommandId: "u1", Title: wrapperspb.String("X"), At: at}}},
		check{Name: "admin publishes", Given: created, Cmd: &pb.PublishRequest{CommandId: "p1", Caller: admin},
			Want: []proto.Message{&pb.ProductPublished{CommandId: "p1", At: at}}},
		check{Name: "admin archives", Given: created, Cmd: &pb.ArchiveRequest{CommandId: "a1", Caller: admin},
			Want: []proto.Message{&pb.ProductArchived{CommandId: "a1", At: at}}},
		check{Name: "admin reads", Given: created, Cmd: &pb.GetForVendorRequest{Caller: admin}},
		check{Name: "owner reads", Given: created, Cmd: &pb.GetForVendorRequest{Caller: owner}},
	)
	runChecks(t, tests)
}

// TestUpdateCarriesNoServerOwnedField walks the descriptor of UpdateRequest
// (and of every message it holds, but the Caller, which names who asks):
// server-owned fields cannot be changed by Update because it has no field
// for them.
func TestUpdateCarriesNoServerOwnedField(t *testing.T) {
	serverOwned := map[string]bool{
		"id": true, "vendor_id": true, "status": true, "rating": true, "average": true, "count": true,
		"created_at": true, "updated_at": true, "version": true, "currency": true, "as_admin": true,
	}
	callerName := (&pb.Caller{}).ProtoReflect().Descriptor().FullName()
	var walk func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool)
	walked := 0
	walk = func(md protoreflect.MessageDescriptor, path string, seen map[protoreflect.FullName]bool) {
		if seen[md.FullName()] || md.FullName() == callerName {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			walked++
			assert.False(t, serverOwned[string(f.Name())], "UpdateRequest carries the server-owned field %s%s", path, f.Name())
			if f.Message() != nil && !strings.HasPrefix(string(f.Message().FullName()), "google.protobuf.") {
				walk(f.Message(), path+string(f.Name())+".", seen)
			}
		}
	}
	md := (&pb.UpdateRequest{}).ProtoReflect().Descriptor()
	walk(md, "", map[protoreflect.FullName]bool{})
	assert.Greater(t, walked, 10)
	// The caller is there, and names only who asks.
	caller := md.Fields().ByName("caller")
	require.NotNil(t, caller)
	assert.Equal(t, callerName, caller.Message().FullName())
}

func TestProductView(t *testing.T) {
	s := given(
		createdEv(func(c *pb.CreateRequest) { c.Variants[0].CompareAtAmount = wrapperspb.Int64(2999) }),
		&pb.ProductPublished{CommandId: "p1", At: timestamppb.New(t0.Add(time.Minute))},
		&pb.Fenced{},
		&pb.RatingUpdated{CommandId: "r1", Average: 4, Count: 3, At: timestamppb.New(t0.Add(2 * time.Minute))},
	)
	p := product(s)
	assert.Equal(t, "p1", p.Id)
	assert.Equal(t, vendor, p.VendorId)
	assert.Equal(t, "active", p.Status)
	assert.Equal(t, uint64(3), p.Version, "Fenced takes no version")
	assert.Equal(t, t0, p.CreatedAt.AsTime())
	assert.Equal(t, t0.Add(time.Minute), p.UpdatedAt.AsTime(), "a rating is not an edit")
	assert.True(t, proto.Equal(&pb.Rating{Average: 4, Count: 3}, p.Rating))
	require.Len(t, p.Variants, 4)
	assert.True(t, proto.Equal(&pb.Money{Amount: 1999, Currency: "USD"}, p.Variants[0].Price))
	assert.True(t, proto.Equal(&pb.Money{Amount: 2999, Currency: "USD"}, p.Variants[0].CompareAtPrice))
	assert.Nil(t, p.Variants[1].CompareAtPrice)
	assert.Equal(t, []string{"TS-S-R", "TS-S-B", "TS-M-R", "TS-M-B"}, skus(s))
	// The answer shares nothing with the state.
	p.Images[0].Alt = "changed"
	p.Variants[0].Options["size"] = "XL"
	p.Options[0].Values[0] = "XS"
	assert.Equal(t, "front", s.Images[0].Alt)
	assert.Equal(t, "S", s.Variants[0].Options["size"])
	assert.Equal(t, "S", s.Options[0].Values[0])
	assert.Equal(t, "draft", statusWord(pb.ProductStatus_PRODUCT_STATUS_DRAFT))
	assert.Equal(t, "archived", statusWord(pb.ProductStatus_PRODUCT_STATUS_ARCHIVED))
}

func TestApplyCopiesEvents(t *testing.T) {
	ev := createdEv()
	s := given(ev)
	ev.Variants[0].Options["size"] = "XL"
	ev.Images[0].Url = "https://other.example/"
	assert.Equal(t, "S", s.Variants[0].Options["size"])
	assert.Equal(t, "https://img.example.com/1.jpg", s.Images[0].Url)
}

func TestMemoryIsBounded(t *testing.T) {
	s := given(createdEv())
	for i := range actors.CommandsKept + 10 {
		Spec.Fold(s, &pb.RatingUpdated{CommandId: fmt.Sprint("r", i), Average: 1, Count: int64(i + 1)})
	}
	assert.Len(t, s.RecentCommands, actors.CommandsKept)
	assert.Equal(t, "create-1", s.CreatedBy, "the Create's id is kept for good")
	_, err := decideAsShell(s, createReq(), t0)
	assert.NoError(t, err, "a late Create retry is still answered from state")
}
