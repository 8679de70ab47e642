package filesync

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// statusTTL is how long a tree's sync status read from the store is
// reported before it is read again: a sync run by another worker of the
// region is seen within it.
const statusTTL = 30 * time.Second

// fileSyncMetrics reports the lag of every copy the worker's region
// writes: the age of the source state its last successful sync holds,
// which is the recovery point of the files should the source be lost now.
type fileSyncMetrics struct {
	f         *FileSync
	lag, over *prometheus.Desc

	mu     sync.Mutex
	status map[string]schemas.FileSyncStatus
	read   map[string]time.Time
}

// FileSyncCollector returns the file sync metrics of a worker, for its
// Prometheus registry (a function, not a method: every exported method of
// FileSync is an activity):
//
//	lifeboat_filesync_lag_seconds{cluster,tree}   now − source time of the last successful sync
//	lifeboat_filesync_over_rpo{cluster,tree}      1 when that lag exceeds targets.rpo, or no sync ever succeeded
func FileSyncCollector(f *FileSync) prometheus.Collector { return f.collector() }

func (f *FileSync) collector() *fileSyncMetrics {
	f.metricsOnce.Do(func() {
		f.metrics = &fileSyncMetrics{
			f: f,
			lag: prometheus.NewDesc("lifeboat_filesync_lag_seconds",
				"Seconds since the source state the copy holds was read (the last successful file sync): the recovery point of the files if their region were lost now.",
				[]string{"cluster", "tree"}, nil),
			over: prometheus.NewDesc("lifeboat_filesync_over_rpo",
				"1 when the file sync lag exceeds the cluster's RPO target, or no sync of the tree has succeeded; 0 otherwise.",
				[]string{"cluster", "tree"}, nil),
			status: map[string]schemas.FileSyncStatus{},
			read:   map[string]time.Time{},
		}
	})
	return f.metrics
}

// observeSync records a sync this worker just committed.
func (f *FileSync) observeSync(t schemas.FileTree, st schemas.FileSyncStatus) {
	m := f.collector()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status[t.Name] = st
	m.read[t.Name] = time.Now()
}

// Describe implements prometheus.Collector.
func (m *fileSyncMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lag
	ch <- m.over
}

// Collect implements prometheus.Collector.
func (m *fileSyncMetrics) Collect(ch chan<- prometheus.Metric) {
	topo := m.f.Topology
	rpo := topo.Targets.RPO.Std()
	for _, t := range topo.Files {
		if t.Sync == nil || (m.f.Region != "" && t.CopyRegion() != m.f.Region) {
			continue
		}
		over := 1.0
		if st, ok := m.statusOf(t); ok {
			lag := time.Since(st.SourceTime)
			ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, lag.Seconds(), topo.Cluster, t.Name)
			if rpo <= 0 || lag <= rpo {
				over = 0
			}
		}
		ch <- prometheus.MustNewConstMetric(m.over, prometheus.GaugeValue, over, topo.Cluster, t.Name)
	}
}

// statusOf returns the tree's last sync status, read from the store when
// the one held is older than statusTTL. An unreadable store keeps the last
// status read: the lag it shows grows, as it should.
func (m *fileSyncMetrics) statusOf(t schemas.FileTree) (schemas.FileSyncStatus, bool) {
	m.mu.Lock()
	st, ok := m.status[t.Name]
	fresh := time.Since(m.read[t.Name]) < statusTTL
	m.mu.Unlock()
	if fresh {
		return st, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := m.readStatus(ctx, t)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read[t.Name] = time.Now()
	if err != nil {
		m.f.logger().Debug("file sync status unreadable", zap.String("tree", t.Name), zap.Error(err))
		return st, ok
	}
	m.status[t.Name] = got
	return got, true
}

func (m *fileSyncMetrics) readStatus(ctx context.Context, t schemas.FileTree) (schemas.FileSyncStatus, error) {
	var st schemas.FileSyncStatus
	store, err := m.f.syncStore(ctx, t)
	if err != nil {
		return st, err
	}
	rc, err := store.Get(ctx, schemas.FileSyncStatusKey(m.f.Topology.Cluster, t.Name))
	if err != nil {
		return st, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(body, &st)
}
