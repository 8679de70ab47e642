// Package deployments holds no code: it is how Lifeboat's workers run in
// production (systemd units, Kubernetes manifests with an overlay per region,
// Prometheus alert rules, a Grafana dashboard); `make lint` tests each file.
package deployments
