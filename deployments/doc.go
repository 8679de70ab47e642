// Package deployments holds no code: it is how Lifeboat's workers run in
// production (systemd units, Kubernetes manifests with an overlay per
// region, Prometheus alert rules, a Grafana dashboard). Its tests check
// every file here and are run by `make lint`.
package deployments
