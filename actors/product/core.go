// Package product is the ProductGrain: one grain per product id owns the
// product, its options and variants (SKUs), prices, status and rating
// aggregate (DESIGN §4, §8). The rules are a pure core (core.go: decide,
// apply and the answers; validate.go: the field rules); the actor shell
// persists the events between them.
package product

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/emporium-shop/emporium"
	pb "github.com/emporium-shop/emporium/protos/productpb"
)

// The pure core of the ProductGrain: decide turns a command into events (or
// refuses it) without changing anything, apply folds an event into the state
// without checking anything. Nothing here does I/O or reads the clock: the
// shell passes now. Global SKU uniqueness and the existence of a category
// are not the core's: the shell checks them before it persists.

// Limits of the core.
const (
	// maxIDLen bounds vendor ids.
	maxIDLen = 128
)

// newState returns the state of a product that was never created.
func newState(id string) *pb.State {
	return &pb.State{Id: id}
}

// CheckCreate applies every rule of a creation that does not depend on
// state (lengths, counts, syntax, the option/variant combination rule), as
// the grain will: the service calls it before it claims or writes anything.
func CheckCreate(c *pb.CreateRequest) error {
	_, err := decideCreate(newState(""), c, time.Time{})
	return err
}

// created reports whether Create made the product.
func created(s *pb.State) bool { return s.CreatedBy != "" }

// decide checks cmd against the state at time now and returns the events
// that carry it out. No events and no error means there is nothing left to
// do: the command asks for what already holds. A retry (a command id the
// state remembers) never gets here: the shell answers it from the state
// once authorize lets the caller see it, and refuses a command without an
// id. A refusal returns no events. Reads (Get, GetForVendor) yield no
// events; GetForVendor may be refused.
func decide(s *pb.State, cmd proto.Message, now time.Time) ([]proto.Message, error) {
	if c, ok := cmd.(*pb.CreateRequest); ok {
		return decideCreate(s, c, now)
	}
	if !created(s) {
		return nil, notFound()
	}
	switch c := cmd.(type) {
	case *pb.UpdateRequest:
		return decideUpdate(s, c, now)
	case *pb.PublishRequest:
		return decidePublish(s, c, now)
	case *pb.ArchiveRequest:
		return decideArchive(s, c, now)
	case *pb.PostReviewRequest:
		return decidePostReview(s, c, now)
	case *pb.EditReviewRequest:
		return decideEditReview(s, c, now)
	case *pb.DeleteReviewRequest:
		return decideDeleteReview(s, c, now)
	case *pb.ReplyToReviewRequest:
		return decideReplyToReview(s, c, now)
	case *pb.RemoveReviewRequest:
		return decideRemoveReview(s, c, now)
	case *pb.GetRequest:
		return nil, nil
	case *pb.GetForVendorRequest:
		return nil, checkOwner(s, c.GetCaller())
	default:
		return nil, emporium.Errorf(emporium.EINTERNAL, "product: unknown command %T", cmd)
	}
}

func decideCreate(s *pb.State, c *pb.CreateRequest, now time.Time) ([]proto.Message, error) {
	if created(s) {
		if c.CommandId == s.CreatedBy {
			return nil, nil // a retry: answered from state
		}
		return nil, emporium.Errorf(emporium.ECONFLICT, "the product already exists")
	}
	var errs []emporium.FieldError
	if c.VendorId == "" || len(c.VendorId) > maxIDLen {
		errs = append(errs, emporium.Field("vendor_id", emporium.FieldRequired, "vendor_id is required"))
	}
	title, fe := cleanTitle(c.Title)
	errs = appendFE(errs, fe)
	desc, fe := cleanDescription(c.Description)
	errs = appendFE(errs, fe)
	brand, fe := cleanBrand(c.Brand)
	errs = appendFE(errs, fe)
	category, fe := cleanCategory(c.CategoryId)
	errs = appendFE(errs, fe)
	errs = appendFE(errs, checkCurrency(c.Currency))
	images, fes := cleanImages("images", c.Images)
	errs = append(errs, fes...)
	attrs, fes := cleanAttributes("attributes", c.Attributes)
	errs = append(errs, fes...)
	opts, variants, fes := cleanVariantSet(&pb.VariantSet{Options: c.Options, Variants: c.Variants})
	errs = append(errs, fes...)
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.ProductCreated{
		CommandId:   c.CommandId,
		VendorId:    c.VendorId,
		Title:       title,
		Description: desc,
		Brand:       brand,
		CategoryId:  category,
		Images:      images,
		Attributes:  attrs,
		Options:     opts,
		Variants:    variants,
		Currency:    c.Currency,
		At:          timestamppb.New(now),
	}}, nil
}

func decideUpdate(s *pb.State, c *pb.UpdateRequest, now time.Time) ([]proto.Message, error) {
	if err := checkOwner(s, c.Caller); err != nil {
		return nil, err
	}
	if s.Status == pb.ProductStatus_PRODUCT_STATUS_ARCHIVED {
		return nil, emporium.Errorf(emporium.ECONFLICT, "the product is archived and cannot be changed")
	}
	if c.ExpectedVersion != 0 && c.ExpectedVersion != s.Version {
		return nil, emporium.Errorf(emporium.ECONFLICT,
			"the product changed (version %d, not %d); reload it and apply the change again", s.Version, c.ExpectedVersion)
	}
	ev := &pb.ProductUpdated{CommandId: c.CommandId, At: timestamppb.New(now)}
	var errs []emporium.FieldError
	if c.Title != nil {
		v, fe := cleanTitle(c.Title.Value)
		errs = appendFE(errs, fe)
		if fe == nil && v != s.Title {
			ev.Title = wrapperspb.String(v)
		}
	}
	if c.Description != nil {
		v, fe := cleanDescription(c.Description.Value)
		errs = appendFE(errs, fe)
		if fe == nil && v != s.Description {
			ev.Description = wrapperspb.String(v)
		}
	}
	if c.Brand != nil {
		v, fe := cleanBrand(c.Brand.Value)
		errs = appendFE(errs, fe)
		if fe == nil && v != s.Brand {
			ev.Brand = wrapperspb.String(v)
		}
	}
	if c.CategoryId != nil {
		v, fe := cleanCategory(c.CategoryId.Value)
		if fe == nil && v == "" && s.Status == pb.ProductStatus_PRODUCT_STATUS_ACTIVE {
			f := emporium.Field("category_id", emporium.FieldRequired, "an active product keeps a category")
			fe = &f
		}
		errs = appendFE(errs, fe)
		if fe == nil && v != s.CategoryId {
			ev.CategoryId = wrapperspb.String(v)
		}
	}
	if c.Images != nil {
		imgs, fes := cleanImages("images", c.Images.Items)
		errs = append(errs, fes...)
		if fes == nil && !sameImages(imgs, s.Images) {
			ev.Images = &pb.Images{Items: imgs}
		}
	}
	if c.Attributes != nil {
		attrs, fes := cleanAttributes("attributes", c.Attributes.Items)
		errs = append(errs, fes...)
		if fes == nil && !maps.Equal(attrs, s.Attributes) {
			ev.Attributes = &pb.Attributes{Items: attrs}
		}
	}
	if c.VariantSet != nil {
		opts, variants, fes := cleanVariantSet(c.VariantSet)
		errs = append(errs, fes...)
		if fes == nil && !sameVariantSet(opts, variants, s) {
			ev.HasVariantSet = true
			ev.Options = opts
			ev.Variants = variants
			ev.RemovedSkus, ev.AddedSkus = skuChanges(s.Variants, variants)
		}
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	if ev.Title == nil && ev.Description == nil && ev.Brand == nil && ev.CategoryId == nil &&
		ev.Images == nil && ev.Attributes == nil && !ev.HasVariantSet {
		return nil, nil
	}
	return []proto.Message{ev}, nil
}

func decidePublish(s *pb.State, c *pb.PublishRequest, now time.Time) ([]proto.Message, error) {
	if err := checkOwner(s, c.Caller); err != nil {
		return nil, err
	}
	switch s.Status {
	case pb.ProductStatus_PRODUCT_STATUS_ACTIVE:
		return nil, nil
	case pb.ProductStatus_PRODUCT_STATUS_ARCHIVED:
		return nil, emporium.Errorf(emporium.ECONFLICT, "the product is archived and cannot be published")
	}
	var errs []emporium.FieldError
	if len(s.Variants) == 0 {
		errs = append(errs, emporium.Field("variants", emporium.FieldRequired, "a product needs at least one variant to be published"))
	}
	if s.CategoryId == "" {
		errs = append(errs, emporium.Field("category_id", emporium.FieldRequired, "a product needs a category to be published"))
	}
	if len(errs) > 0 {
		return nil, emporium.InvalidFields(errs...)
	}
	return []proto.Message{&pb.ProductPublished{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

func decideArchive(s *pb.State, c *pb.ArchiveRequest, now time.Time) ([]proto.Message, error) {
	if err := checkOwner(s, c.Caller); err != nil {
		return nil, err
	}
	if s.Status == pb.ProductStatus_PRODUCT_STATUS_ARCHIVED {
		return nil, nil
	}
	return []proto.Message{&pb.ProductArchived{CommandId: c.CommandId, At: timestamppb.New(now)}}, nil
}

// apply folds one event into the state. Events are facts: apply never
// refuses one, so replaying a journal always gives the same state. It copies
// what it keeps from an event, so the state never shares a message with the
// journal. Every event but Fenced adds one to the version, except review
// events, which do only when they move the rating (applyReview).
func apply(s *pb.State, ev proto.Message) {
	switch e := ev.(type) {
	case *pb.ProductCreated:
		s.CreatedBy = e.CommandId
		s.VendorId = e.VendorId
		s.Title = e.Title
		s.Description = e.Description
		s.Brand = e.Brand
		s.CategoryId = e.CategoryId
		s.Images = cloneAll(e.Images)
		s.Attributes = maps.Clone(e.Attributes)
		s.Options = cloneAll(e.Options)
		s.Variants = cloneAll(e.Variants)
		s.Currency = e.Currency
		s.Status = pb.ProductStatus_PRODUCT_STATUS_DRAFT
		s.Rating = &pb.Rating{}
		s.CreatedAt = proto.CloneOf(e.At)
		s.UpdatedAt = proto.CloneOf(e.At)
	case *pb.ProductUpdated:
		if e.Title != nil {
			s.Title = e.Title.Value
		}
		if e.Description != nil {
			s.Description = e.Description.Value
		}
		if e.Brand != nil {
			s.Brand = e.Brand.Value
		}
		if e.CategoryId != nil {
			s.CategoryId = e.CategoryId.Value
		}
		if e.Images != nil {
			s.Images = cloneAll(e.Images.Items)
		}
		if e.Attributes != nil {
			s.Attributes = maps.Clone(e.Attributes.Items)
		}
		if e.HasVariantSet {
			s.Options = cloneAll(e.Options)
			s.Variants = cloneAll(e.Variants)
		}
		s.UpdatedAt = proto.CloneOf(e.At)
	case *pb.ProductPublished:
		s.Status = pb.ProductStatus_PRODUCT_STATUS_ACTIVE
		s.UpdatedAt = proto.CloneOf(e.At)
	case *pb.ProductArchived:
		s.Status = pb.ProductStatus_PRODUCT_STATUS_ARCHIVED
		s.UpdatedAt = proto.CloneOf(e.At)
	case *pb.RatingUpdated:
		// Not an edit of the product: updated_at stays.
		s.Rating = &pb.Rating{Average: e.Average, Count: e.Count}
	case *pb.ReviewPosted, *pb.ReviewEdited, *pb.ReviewDeleted, *pb.ReviewReplied, *pb.ReviewRemoved:
		applyReview(s, e)
		return
	case *pb.Fenced:
		// Only takes its seq; not a version.
		return
	default:
		return
	}
	s.Version++
}

// product renders the state as the grain's answer. It copies every message
// it returns.
func product(s *pb.State) *pb.Product {
	out := &pb.Product{
		Id:          s.Id,
		VendorId:    s.VendorId,
		Title:       s.Title,
		Description: s.Description,
		Brand:       s.Brand,
		CategoryId:  s.CategoryId,
		Images:      cloneAll(s.Images),
		Attributes:  maps.Clone(s.Attributes),
		Options:     cloneAll(s.Options),
		Status:      statusWord(s.Status),
		Rating:      &pb.Rating{Average: s.GetRating().GetAverage(), Count: s.GetRating().GetCount()},
		CreatedAt:   proto.CloneOf(s.CreatedAt),
		UpdatedAt:   proto.CloneOf(s.UpdatedAt),
		Version:     s.Version,
	}
	for _, v := range s.Variants {
		view := &pb.VariantView{
			Sku:     v.Sku,
			Options: maps.Clone(v.Options),
			Price:   &pb.Money{Amount: v.PriceAmount, Currency: s.Currency},
		}
		if v.CompareAtAmount != nil {
			view.CompareAtPrice = &pb.Money{Amount: v.CompareAtAmount.Value, Currency: s.Currency}
		}
		out.Variants = append(out.Variants, view)
	}
	return out
}

// skus returns the product's SKUs in variant order (the shell's claims).
func skus(s *pb.State) []string {
	out := make([]string, len(s.Variants))
	for i, v := range s.Variants {
		out[i] = v.Sku
	}
	return out
}

// statusWord is a status as the API spells it.
func statusWord(st pb.ProductStatus) string {
	switch st {
	case pb.ProductStatus_PRODUCT_STATUS_DRAFT:
		return "draft"
	case pb.ProductStatus_PRODUCT_STATUS_ACTIVE:
		return "active"
	case pb.ProductStatus_PRODUCT_STATUS_ARCHIVED:
		return "archived"
	default:
		return ""
	}
}

// checkOwner refuses a caller who is neither the owner nor an admin with
// ENOTFOUND, so that the refusal does not reveal that the product exists.
// authorize refuses a command from a caller who does not own the product
// before the shell answers it as a retry, so that a command id reused by
// another vendor reveals nothing.
func authorize(s *pb.State, cmd proto.Message) error {
	if c, ok := cmd.(interface{ GetCaller() *pb.Caller }); ok {
		return checkOwner(s, c.GetCaller())
	}
	return nil
}

func checkOwner(s *pb.State, c *pb.Caller) error {
	if c.GetAsAdmin() || (c.GetVendorId() != "" && c.GetVendorId() == s.VendorId) {
		return nil
	}
	return notFound()
}

func notFound() error { return emporium.Errorf(emporium.ENOTFOUND, "product not found") }

// skuChanges returns the SKUs of before that after lacks, and those of after
// that before lacks, each in variant order.
func skuChanges(before, after []*pb.Variant) (removed, added []string) {
	has := func(vs []*pb.Variant, sku string) bool {
		return slices.ContainsFunc(vs, func(v *pb.Variant) bool { return v.Sku == sku })
	}
	for _, v := range before {
		if !has(after, v.Sku) {
			removed = append(removed, v.Sku)
		}
	}
	for _, v := range after {
		if !has(before, v.Sku) {
			added = append(added, v.Sku)
		}
	}
	return removed, added
}

func sameImages(a, b []*pb.Image) bool {
	return slices.EqualFunc(a, b, func(x, y *pb.Image) bool { return proto.Equal(x, y) })
}

func sameVariantSet(opts []*pb.Option, variants []*pb.Variant, s *pb.State) bool {
	return slices.EqualFunc(opts, s.Options, func(x, y *pb.Option) bool { return proto.Equal(x, y) }) &&
		slices.EqualFunc(variants, s.Variants, func(x, y *pb.Variant) bool { return proto.Equal(x, y) })
}

func cloneAll[M proto.Message](in []M) []M {
	if in == nil {
		return nil
	}
	out := make([]M, len(in))
	for i, m := range in {
		out[i] = proto.CloneOf(m)
	}
	return out
}
