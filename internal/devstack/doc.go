// Package devstack starts, checks and stops the local stack on loopback: the
// Temporal dev server, PostgreSQL 15 (a primary, a synchronous and an
// asynchronous replica), Redis (a master, a replica, three sentinels), an
// S3-compatible server (versitygw) and one Lifeboat worker per region. The
// `lifeboat-dev` command and the integration tests both drive it.
//
// Everything listens on 127.0.0.1 at fixed ports:
//
//	temporal      gRPC 17233, Web UI 18233, HTTP API 17243, metrics 17239
//	pg-a1         15432  PostgreSQL primary, region-a
//	pg-a2         15433  synchronous replica, region-a
//	pg-b1         15434  asynchronous replica, region-b
//	redis-a1      16379  Redis master, region-a
//	redis-b1      16380  Redis replica, region-b
//	sentinel-a1   16381  region-a  (master name lifeboat-dev, quorum 2)
//	sentinel-b1   16382  region-b
//	sentinel-b2   16383  region-b
//	versitygw     19000  S3, bucket lifeboat-dev, region us-east-1, path style
//	worker        19101  region-a metrics and /healthz
//	worker        19102  region-b metrics and /healthz
//
// State lives in <root>/.dev: the Temporal database (temporal/temporal.db),
// logs (logs/<name>.log), pid files (pids/<name>.pid), secrets (secrets/, mode
// 0600), the generated topology (topology.yaml), an env file for operators
// (env), and Redis, Sentinel, versitygw and file-tree data. PostgreSQL refuses
// to run as root and the checkout may sit where its user cannot enter, so its
// data directories, sockets and logs live in a per-checkout shared directory
// (see [SharedDirFor]) owned by the user PostgreSQL runs as; .dev/pg links to it.
package devstack
