package gateway

import (
	"net/http"

	"github.com/emporium-shop/emporium"
)

// clusterStatus answers GET /v1/admin/cluster: the members, their
// addresses, the grains each holds by kind, and the shared services' state.
// The service refuses a caller who is not an administrator; the answer is
// never cached, since it is a view of a moment.
func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request, p emporium.Principal) error {
	st, err := s.cluster.ClusterStatus(r.Context(), p)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return Respond(w, http.StatusOK, st)
}
