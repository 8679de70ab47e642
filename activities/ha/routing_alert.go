package ha

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// webhookTimeout bounds one POST of an alert; the activity's retries do the
// rest.
const webhookTimeout = 5 * time.Second

// webhookAlert is the JSON body posted to the topology's webhook.
type webhookAlert struct {
	Cluster  string    `json:"cluster"`
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	At       time.Time `json:"at"`
}

// Alert logs an alert, counts it, and posts it to the topology's webhook.
// A webhook that fails is an error, so the alert is retried until someone
// has heard it.
func (r *Routing) Alert(ctx context.Context, in schemas.AlertInput) (schemas.AlertResult, error) {
	if in.Cluster != r.Topology.Cluster {
		return schemas.AlertResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	r.logger().Error("alert", zap.String("cluster", in.Cluster), zap.String("kind", in.Kind),
		zap.String("severity", in.Severity), zap.String("summary", in.Summary))
	if r.Metrics != nil {
		r.Metrics.Alerts.WithLabelValues(in.Cluster, in.Kind, in.Severity).Inc()
	}
	url := r.Topology.Failover.Webhook
	if url == "" {
		return schemas.AlertResult{}, nil
	}
	body, err := json.Marshal(webhookAlert{Cluster: in.Cluster, Kind: in.Kind, Severity: in.Severity, Summary: in.Summary, At: time.Now().UTC()})
	if err != nil {
		return schemas.AlertResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return schemas.AlertResult{}, activities.InvalidInput("failover.webhook", err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return schemas.AlertResult{}, fmt.Errorf("post alert to the webhook: %w", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return schemas.AlertResult{}, fmt.Errorf("post alert to the webhook: %s: %s", resp.Status, bytes.TrimSpace(reply))
	}
	return schemas.AlertResult{Webhook: true}, nil
}

// SentinelFailover asks the sentinels, one after another, to fail over the
// Redis master (SENTINEL FAILOVER) and names the first that accepts.
func (r *Routing) SentinelFailover(ctx context.Context, in schemas.SentinelFailoverInput) (schemas.SentinelFailoverResult, error) {
	if in.Cluster != r.Topology.Cluster {
		return schemas.SentinelFailoverResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	if r.Topology.Redis == nil {
		return schemas.SentinelFailoverResult{}, activities.InvalidInput("redis", fmt.Sprintf("cluster %s names no Sentinel master", in.Cluster))
	}
	master := r.Topology.Redis.MasterName
	var errs []error
	for _, reg := range r.Topology.Regions {
		for _, n := range reg.Sentinels {
			s, err := r.Clients.Sentinel(n)
			if err != nil {
				return schemas.SentinelFailoverResult{}, err
			}
			sctx, cancel := context.WithTimeout(ctx, activities.SentinelAskTimeout)
			err = s.Failover(sctx, master).Err()
			cancel()
			if err == nil {
				r.logger().Warn("sentinel failover requested", zap.String("cluster", in.Cluster),
					zap.String("sentinel", n.Name), zap.String("master", master))
				return schemas.SentinelFailoverResult{Sentinel: n.Name}, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
		}
	}
	if len(errs) == 0 {
		return schemas.SentinelFailoverResult{}, activities.InvalidInput("regions", fmt.Sprintf("cluster %s names no sentinel", in.Cluster))
	}
	return schemas.SentinelFailoverResult{}, fmt.Errorf("SENTINEL FAILOVER %s: no sentinel accepted: %w", master, errors.Join(errs...))
}
