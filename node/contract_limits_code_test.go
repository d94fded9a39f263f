package node_test

import (
	"github.com/emporium-shop/emporium"
	"github.com/emporium-shop/emporium/actors/catalog"
	"github.com/emporium-shop/emporium/actors/category"
	"github.com/emporium-shop/emporium/actors/product"
	"github.com/emporium-shop/emporium/actors/user"
	"github.com/emporium-shop/emporium/auth"
	"github.com/emporium-shop/emporium/gateway"
)

// codeLimits names, for every limit a request schema of openapi.yaml states
// (schema.member, [] for an array's items, {} for a map's values), the
// constant the server enforces it with. TestContractLimitsAreTheCode
// compares the two.
var codeLimits = map[string]int64{
	// Accounts: the auth package bounds credentials, the user rules the rest.
	"SignupRequest.username maxLength":            user.MaxUsernameLength,
	"SignupRequest.email maxLength":               emporium.MaxEmailLength,
	"SignupRequest.password maxLength":            auth.MaxPasswordLength,
	"EmailRequest.email maxLength":                emporium.MaxEmailLength,
	"LoginRequest.email maxLength":                emporium.MaxEmailLength,
	"LoginRequest.password maxLength":             auth.MaxPasswordLength,
	"LoginMFARequest.mfa_token maxLength":         auth.MaxTokenLength,
	"LoginMFARequest.code maxLength":              auth.MaxCodeLength,
	"RefreshTokenRequest.refresh_token maxLength": auth.MaxRefreshTokenLength,
	"TokenRequest.token maxLength":                auth.MaxTokenLength,
	"ResetPasswordRequest.token maxLength":        auth.MaxTokenLength,
	"ResetPasswordRequest.password maxLength":     auth.MaxPasswordLength,
	"PasswordRequest.password maxLength":          auth.MaxPasswordLength,
	"CodeRequest.code maxLength":                  auth.MaxCodeLength,
	"DisableTOTPRequest.code maxLength":           auth.MaxCodeLength,
	"DisableTOTPRequest.password maxLength":       auth.MaxPasswordLength,
	"AccountPatch.name maxLength":                 user.MaxNameLength,
	"AccountPatch.email maxLength":                emporium.MaxEmailLength,
	"AccountPatch.current_password maxLength":     auth.MaxPasswordLength,
	// The longest valid phone number: '+', then MaxPhoneDigits digits with
	// one separator between each two.
	"AccountPatch.phone maxLength":         2 * user.MaxPhoneDigits,
	"AddressRequest.phone maxLength":       2 * user.MaxPhoneDigits,
	"AddressRequest.full_name maxLength":   user.MaxNameLength,
	"AddressRequest.line1 maxLength":       user.MaxLineLength,
	"AddressRequest.line2 maxLength":       user.MaxLineLength,
	"AddressRequest.city maxLength":        user.MaxCityLength,
	"AddressRequest.region maxLength":      user.MaxCityLength,
	"AddressRequest.postal_code maxLength": user.MaxPostalCode,
	"AddressRequest.country maxLength":     2, // ISO 3166-1 alpha-2

	// Catalogue.
	"CategoryRequest.name maxLength":         category.MaxName,
	"CategoryRequest.slug maxLength":         category.MaxSlug,
	"CategoryRequest.parent_id maxLength":    category.MaxID,
	"VendorRequest.store_name maxLength":     user.MaxStoreName,
	"VendorRequest.description maxLength":    user.MaxStoreDescription,
	"SetStockRequest.on_hand maximum":        catalog.MaxOnHand,
	"ProductRequest.currency maxLength":      3, // ISO 4217 (product.Currencies)
	"ProductUpdate.expected_version maximum": gateway.MaxJSONInteger,

	// Reviews.
	"ReplyRequest.body maxLength": product.MaxReplyBody,

	// Cart and wishlists.
	"CartItemRequest.sku maxLength":            emporium.MaxSKULength,
	"CartItemRequest.quantity maximum":         emporium.MaxLineQuantity,
	"CartLineUpdate.quantity maximum":          emporium.MaxLineQuantity,
	"WishlistRequest.name maxLength":           user.MaxWishlistName,
	"WishlistItemRequest.product_id maxLength": user.MaxProductIDLength,
	"WishlistItemRequest.sku maxLength":        user.MaxWishlistSKULength,

	// Checkout and orders: the gateway's own bounds.
	"CheckoutRequest.shipping_address_id maxLength":       gateway.MaxOrderIDLength,
	"CheckoutRequest.shipping_method maxLength":           gateway.MaxOrderIDLength,
	"PlaceOrderRequest.shipping_address_id maxLength":     gateway.MaxOrderIDLength,
	"PlaceOrderRequest.billing_address_id maxLength":      gateway.MaxOrderIDLength,
	"PlaceOrderRequest.shipping_method maxLength":         gateway.MaxOrderIDLength,
	"PlaceOrderRequest.payment.provider maxLength":        gateway.MaxProviderLength,
	"PlaceOrderRequest.payment.token maxLength":           gateway.MaxPaymentTokenLength,
	"PlaceOrderRequest.payment.return_url maxLength":      gateway.MaxReturnURLLength,
	"PlaceOrderRequest.expected_total.amount maximum":     gateway.MaxJSONInteger,
	"PlaceOrderRequest.expected_total.currency maxLength": 3, // ISO 4217

	"ShipRequest.carrier maxLength":           emporium.MaxCarrierLength,
	"ShipRequest.tracking_number maxLength":   emporium.MaxTrackingNumberLength,
	"ShipRequest.lines maxItems":              emporium.MaxRequestLines,
	"ShipRequest.lines[] maxLength":           emporium.MaxLineIDLength,
	"DeliverRequest.lines maxItems":           emporium.MaxRequestLines,
	"DeliverRequest.lines[] maxLength":        emporium.MaxLineIDLength,
	"AdminCancelRequest.reason maxLength":     emporium.MaxReasonLength,
	"RefundRequest.reason maxLength":          emporium.MaxReasonLength,
	"RefundRequest.lines maxItems":            emporium.MaxRequestLines,
	"RefundRequest.lines[] maxLength":         emporium.MaxLineIDLength,
	"RefundRequest.amount.amount maximum":     gateway.MaxJSONInteger,
	"RefundRequest.amount.currency maxLength": 3, // ISO 4217
}

func init() {
	// A review's members are the same limits in a new review and in a
	// change of one.
	for _, schema := range []string{"ReviewRequest", "ReviewUpdate"} {
		for member, limit := range map[string]int64{
			"rating maximum":  product.MaxStars,
			"title maxLength": product.MaxReviewTitle,
			"body maxLength":  product.MaxReviewBody,
		} {
			codeLimits[schema+"."+member] = limit
		}
	}
	// A product's members are the same limits in a new product and in a
	// change of one.
	for _, schema := range []string{"ProductRequest", "ProductUpdate"} {
		for member, limit := range map[string]int64{
			"title maxLength":                     product.MaxTitle,
			"description maxLength":               product.MaxDescription,
			"brand maxLength":                     product.MaxBrand,
			"category_id maxLength":               product.MaxCategoryID,
			"images maxItems":                     product.MaxImages,
			"images[].url maxLength":              product.MaxImageURL,
			"images[].alt maxLength":              product.MaxImageAlt,
			"attributes{} maxLength":              product.MaxAttributeValue,
			"attributes maxProperties":            product.MaxAttributes,
			"attributes<> maxLength":              product.MaxAttributeKey,
			"variants[].options maxProperties":    product.MaxOptions,
			"variants[].options<> maxLength":      product.MaxOptionName,
			"options maxItems":                    product.MaxOptions,
			"options[].name maxLength":            product.MaxOptionName,
			"options[].values maxItems":           product.MaxOptionValues,
			"options[].values[] maxLength":        product.MaxOptionValue,
			"variants maxItems":                   product.MaxVariants,
			"variants[].sku maxLength":            product.MaxSKU,
			"variants[].options{} maxLength":      product.MaxOptionValue,
			"variants[].price maximum":            product.MaxPrice,
			"variants[].compare_at_price maximum": product.MaxPrice,
		} {
			codeLimits[schema+"."+member] = limit
		}
	}
}
