package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUUse is where the CPU went during a phase, in cores (2.0 = both cores of
// a 2-core machine busy the whole time). Postgres is the bench's own cluster
// (its postmaster and children; every process named postgres when the bench
// uses DATABASE_URL's server). Other is everything else on the machine: when
// it is not near zero, the figures were measured on a machine that was busy
// with something else.
type CPUUse struct {
	Machine  float64 `json:"machine_cores"`
	Bench    float64 `json:"bench_cores"`            // this process: load generator and in-process parts
	Target   float64 `json:"target_cores,omitempty"` // the subprocess under test
	Postgres float64 `json:"postgres_cores"`
	Other    float64 `json:"other_cores"`
}

const clockTicks = 100 // USER_HZ

type cpuSnap struct {
	at          time.Time
	busy        uint64
	self        uint64
	target      uint64
	postgres    map[int]uint64
	targetPID   int
	pgRoot      int
	haveMachine bool
}

// snapCPU reads the counters; pgRoot is the bench cluster's postmaster (0:
// count every postgres process).
func snapCPU(targetPID, pgRoot int) cpuSnap {
	s := cpuSnap{at: time.Now(), targetPID: targetPID, pgRoot: pgRoot, postgres: map[int]uint64{}}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) > 5 && f[0] == "cpu" {
			var total uint64
			for _, v := range f[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				total += n
			}
			idle, _ := strconv.ParseUint(f[4], 10, 64)
			iowait, _ := strconv.ParseUint(f[5], 10, 64)
			s.busy, s.haveMachine = total-idle-iowait, true
		}
	}
	s.self, _ = procTicks(os.Getpid())
	if targetPID > 0 {
		s.target, _ = procTicks(targetPID)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		t, ppid, err := procStat(pid)
		if err == nil && (pgRoot == 0 || pid == pgRoot || ppid == pgRoot) {
			s.postgres[pid] = t
		}
	}
	return s
}

// procTicks is utime+stime of a process.
func procTicks(pid int) (uint64, error) {
	t, _, err := procStat(pid)
	return t, err
}

// procStat returns utime+stime and the parent's pid.
func procStat(pid int) (uint64, int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, os.ErrInvalid
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, os.ErrInvalid
	}
	ppid, _ := strconv.Atoi(f[1])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st, ppid, nil
}

// since is the use between an earlier snapshot a and now.
func (a cpuSnap) since() CPUUse {
	b := snapCPU(a.targetPID, a.pgRoot)
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return CPUUse{}
	}
	cores := func(d uint64) float64 { return round3(float64(d) / clockTicks / secs) }
	var u CPUUse
	if a.haveMachine && b.haveMachine && b.busy >= a.busy {
		u.Machine = cores(b.busy - a.busy)
	}
	if b.self >= a.self {
		u.Bench = cores(b.self - a.self)
	}
	if a.targetPID > 0 && b.target >= a.target {
		u.Target = cores(b.target - a.target)
	}
	var pg uint64
	for pid, t := range b.postgres {
		if t0, ok := a.postgres[pid]; ok && t >= t0 {
			pg += t - t0
		} else if !ok {
			pg += t // started during the phase
		}
	}
	u.Postgres = cores(pg)
	u.Other = round3(max(0, u.Machine-u.Bench-u.Target-u.Postgres))
	return u
}
