package order

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/emporium-shop/emporium/protos/orderpb"
)

// Metrics are the order saga's Prometheus metrics. A nil *Metrics counts
// nothing.
type Metrics struct {
	statuses  *prometheus.CounterVec
	steps     *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	providers *prometheus.CounterVec
	// Stuck is the number of orders left unsettled for over a minute, as
	// the recovery loop last counted them.
	Stuck prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg (when reg is
// not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emporium_orders_total",
			Help: "Orders that reached each status on this node.",
		}, []string{"status"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "emporium_order_step_seconds",
			Help:    "How long each run of a checkout saga step's effect took.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"step"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emporium_order_step_retries_total",
			Help: "Saga step runs whose outcome was unknown, so the step ran again.",
		}, []string{"step"}),
		providers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "emporium_payment_provider_errors_total",
			Help: "Payment provider calls that failed, by provider and operation.",
		}, []string{"provider", "op"}),
		Stuck: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "emporium_orders_unsettled_over_a_minute",
			Help: "Orders whose saga has not settled for more than a minute, as the recovery loop last counted them (up to 500 a pass); it wakes them.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.statuses, m.steps, m.retries, m.providers, m.Stuck)
	}
	return m
}

func (m *Metrics) countStatus(status string) {
	if m != nil {
		m.statuses.WithLabelValues(status).Inc()
	}
}

func (m *Metrics) observeStep(step pb.Step, took time.Duration, retry error) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(step.String()).Observe(took.Seconds())
	if retry != nil {
		m.retries.WithLabelValues(step.String()).Inc()
	}
}

func (m *Metrics) providerError(provider, op string) {
	if m != nil {
		m.providers.WithLabelValues(provider, op).Inc()
	}
}

func (m *Metrics) stuck(n int) {
	if m != nil {
		m.Stuck.Set(float64(n))
	}
}
