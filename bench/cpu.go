package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes are CPU times (user + system) consumed so far by the parts of
// a run, so that a run can say where its CPU went: a 2-core machine runs
// the worker, the simulator and Redis at once.
type cpuTimes struct {
	// self is this process: the simulator, the latency proxy and the bare
	// asynq server live here.
	self time.Duration
	// redis is the private redis-server.
	redis time.Duration
	// worker is bin/worker, when one runs.
	worker time.Duration
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{self: a.self - b.self, redis: a.redis - b.redis, worker: a.worker - b.worker}
}

// cpuNow reads the CPU times of this process, of Redis and of the process
// pid (0: none).
func (e *env) cpuNow(ctx context.Context, pid int) cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t.redis = e.redisCPU(ctx)
	if pid > 0 {
		t.worker = procCPU(pid)
	}
	return t
}

// redisCPU is Redis's used_cpu_user + used_cpu_sys (INFO cpu).
func (e *env) redisCPU(ctx context.Context) time.Duration {
	info, err := e.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var sum float64
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return time.Duration(sum * float64(time.Second))
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU is utime + stime of process pid from /proc/PID/stat, or 0 where
// there is no /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}
