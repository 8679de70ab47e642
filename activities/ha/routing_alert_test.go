package ha

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

func TestAlert_PostsToTheWebhookAndCounts(t *testing.T) {
	var got webhookAlert
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	topo := &schemas.Topology{Cluster: "c1", Failover: schemas.Failover{Webhook: srv.URL}}
	m := activities.NewMetrics(prometheus.NewRegistry())
	r := &Routing{Topology: topo, Metrics: m}
	in := schemas.AlertInput{Cluster: "c1", Kind: schemas.EventRTOBreach, Severity: "critical", Summary: "failover over its RTO"}

	res, err := r.Alert(context.Background(), in)
	if err != nil || !res.Webhook {
		t.Fatalf("Alert = %+v, %v; want posted", res, err)
	}
	if got.Cluster != "c1" || got.Kind != in.Kind || got.Severity != "critical" || got.Summary != in.Summary || got.At.IsZero() {
		t.Errorf("webhook received %+v", got)
	}
	if n := testutil.ToFloat64(m.Alerts.WithLabelValues("c1", in.Kind, "critical")); n != 1 {
		t.Errorf("alerts counted %v, want 1", n)
	}

	status = http.StatusBadGateway
	_, err = r.Alert(context.Background(), in)
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		t.Errorf("Alert with a failing webhook = %v, want a retryable error", err)
	}

	r.Topology = &schemas.Topology{Cluster: "c1"}
	if res, err := r.Alert(context.Background(), in); err != nil || res.Webhook {
		t.Errorf("Alert without a webhook = %+v, %v; want logged and counted only", res, err)
	}
	if n := testutil.ToFloat64(m.Alerts.WithLabelValues("c1", in.Kind, "critical")); n != 3 {
		t.Errorf("alerts counted %v, want 3", n)
	}
}
