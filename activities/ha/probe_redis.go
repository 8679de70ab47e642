package ha

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/runnerhub/lifeboat/schemas"
)

// probeRedis reads a node's replication role and offset from INFO replication.
func (p *Probe) probeRedis(ctx context.Context, n schemas.RedisNode) schemas.NodeHealth {
	h := schemas.NodeHealth{Name: n.Name, Kind: schemas.KindRedis, Role: schemas.RoleUnknown, Addr: n.Addr}
	c, err := p.Clients.Redis(n.Name, n.Addr, n.Password)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		h.Error = fmt.Sprintf("info replication: %v", err)
		return h
	}
	info := ParseRedisInfo(text)
	switch info["role"] {
	case "master":
		h.Role = schemas.RoleMaster
		h.ReplOffset = parseInt(info["master_repl_offset"])
		h.Healthy = true
	case "slave":
		h.Role = schemas.RoleReplica
		h.ReplOffset = parseInt(info["slave_repl_offset"])
		h.MasterAddr = net.JoinHostPort(info["master_host"], info["master_port"])
		h.MasterLinkUp = info["master_link_status"] == "up"
		h.Healthy = h.MasterLinkUp
		if !h.Healthy {
			h.Error = "link to master " + h.MasterAddr + " is down"
		}
	default:
		h.Error = fmt.Sprintf("unexpected role %q", info["role"])
	}
	return h
}

// probeSentinel asks a sentinel which master it names and how many other
// sentinels it sees; whether the sentinels agree is judged by the workflow,
// which sees every region.
func (p *Probe) probeSentinel(ctx context.Context, n schemas.SentinelNode, master string) schemas.NodeHealth {
	h := schemas.NodeHealth{Name: n.Name, Kind: schemas.KindSentinel, Role: schemas.RoleSentinel, Addr: n.Addr}
	c, err := p.Clients.Sentinel(n)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	addr, err := c.GetMasterAddrByName(ctx, master).Result()
	if err != nil {
		h.Error = fmt.Sprintf("get-master-addr-by-name %s: %v", master, err)
		return h
	}
	if len(addr) == 2 {
		h.SentinelMaster = net.JoinHostPort(addr[0], addr[1])
	}
	state, err := c.Master(ctx, master).Result()
	if err != nil {
		h.Error = fmt.Sprintf("sentinel master %s: %v", master, err)
		return h
	}
	if v := parseInt(state["num-other-sentinels"]); v != nil {
		h.OtherSentinels = int(*v)
	}
	if flags := state["flags"]; strings.Contains(flags, "s_down") || strings.Contains(flags, "o_down") {
		h.Error = "sentinel sees the master down (" + flags + ")"
		return h
	}
	h.Healthy = true
	return h
}

// ParseRedisInfo reads the key:value lines of a Redis INFO reply.
func ParseRedisInfo(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

func parseInt(s string) *int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return &v
}
