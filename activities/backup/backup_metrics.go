package backup

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// backupStatusTTL is how long the newest backups read from the store are
// reported before the store is read again.
const backupStatusTTL = time.Minute

// backupReadTimeout bounds one read of the store during a scrape.
const backupReadTimeout = 10 * time.Second

// backupMetrics reports a cluster's newest backup of each kind, as its
// manifests in the store say. A backup exists once its manifest does, so
// this is the truth whichever worker made it, and it survives a restart of
// the worker; a per-process gauge set at the end of a backup would do
// neither.
type backupMetrics struct {
	b                                 *Backup
	lastSuccess, size, throughput, ok *prometheus.Desc
	mu                                sync.Mutex
	read                              time.Time
	readOK                            bool
	newest                            map[string]schemas.Manifest // by kind
	manifests                         map[string]schemas.Manifest // by ID: manifests do not change
}

// BackupCollector returns the backup metrics of a worker, for its
// Prometheus registry (a function, not a method: every exported method of
// Backup is an activity):
//
//	lifeboat_backup_last_success_timestamp_seconds{cluster,kind}   end of the newest backup
//	lifeboat_backup_last_success_size_bytes{cluster,kind}          its stored (compressed, encrypted) size
//	lifeboat_backup_throughput_bytes_per_second{cluster,kind}      its plain bytes over its duration
//	lifeboat_backup_store_readable{cluster}                        1 when the last read of the store worked
func BackupCollector(b *Backup) prometheus.Collector {
	cl := []string{"cluster", "kind"}
	return &backupMetrics{
		b: b,
		lastSuccess: prometheus.NewDesc("lifeboat_backup_last_success_timestamp_seconds",
			"Unix time the newest backup of a kind ended; a backup counts once its manifest is stored.", cl, nil),
		size: prometheus.NewDesc("lifeboat_backup_last_success_size_bytes",
			"Stored size (compressed and encrypted) of the newest backup of a kind.", cl, nil),
		throughput: prometheus.NewDesc("lifeboat_backup_throughput_bytes_per_second",
			"Plain bytes of the newest backup of a kind over its duration, from start to verified upload.", cl, nil),
		ok: prometheus.NewDesc("lifeboat_backup_store_readable",
			"1 when the worker's last read of the backup manifests worked, 0 when the store could not be read.", []string{"cluster"}, nil),
		newest:    map[string]schemas.Manifest{},
		manifests: map[string]schemas.Manifest{},
	}
}

func (m *backupMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lastSuccess
	ch <- m.size
	ch <- m.throughput
	ch <- m.ok
}

func (m *backupMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.read) > backupStatusTTL {
		ctx, cancel := context.WithTimeout(context.Background(), backupReadTimeout)
		err := m.refresh(ctx)
		cancel()
		m.read, m.readOK = time.Now(), err == nil
		if err != nil {
			// The last values stay; the gauge below says they are stale.
			m.b.logger().Warn("read backup manifests for metrics", zap.Error(err))
		}
	}
	cluster := m.b.Topology.Cluster
	ok := 0.0
	if m.readOK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(m.ok, prometheus.GaugeValue, ok, cluster)
	for kind, man := range m.newest {
		plain, stored := backupSizes(man)
		ch <- prometheus.MustNewConstMetric(m.lastSuccess, prometheus.GaugeValue, float64(man.EndTime.UnixMilli())/1000, cluster, kind)
		ch <- prometheus.MustNewConstMetric(m.size, prometheus.GaugeValue, float64(stored), cluster, kind)
		if took := man.EndTime.Sub(man.StartTime).Seconds(); took > 0 {
			ch <- prometheus.MustNewConstMetric(m.throughput, prometheus.GaugeValue, float64(plain)/took, cluster, kind)
		}
	}
}

// backupSizes adds up a backup's objects: one for a database, one part per
// region for files and config.
func backupSizes(man schemas.Manifest) (plain, stored int64) {
	if len(man.Parts) == 0 {
		return man.PlainSize, man.StoredSize
	}
	for _, p := range man.Parts {
		plain += p.PlainSize
		stored += p.StoredSize
	}
	return plain, stored
}

// refresh finds the newest backup of each kind, reading manifests from the
// newest ID back until every kind is found; manifests read once are kept.
func (m *backupMetrics) refresh(ctx context.Context) error {
	store, err := m.b.Clients.Store(ctx)
	if err != nil {
		return err
	}
	ids, err := backupIDs(ctx, store, m.b.Topology.Cluster)
	if err != nil {
		return err
	}
	newest := map[string]schemas.Manifest{}
	for _, id := range slices.Backward(ids) {
		if len(newest) == len(schemas.BackupKinds) {
			break
		}
		man, err := m.manifest(ctx, store, id)
		if err != nil {
			return err
		}
		if cur, ok := newest[man.Kind]; !ok || man.EndTime.After(cur.EndTime) {
			newest[man.Kind] = man
		}
	}
	m.newest = newest
	for id := range m.manifests { // retention removed it
		if _, found := slices.BinarySearch(ids, id); !found {
			delete(m.manifests, id)
		}
	}
	return nil
}

func (m *backupMetrics) manifest(ctx context.Context, store objstore.Store, id string) (schemas.Manifest, error) {
	if man, ok := m.manifests[id]; ok {
		return man, nil
	}
	man, err := readManifest(ctx, store, m.b.Topology.Cluster, id)
	if err != nil {
		return man, err
	}
	m.manifests[id] = man
	return man, nil
}
