package job

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// readTask reads what the export needs of a task: its payload, state,
// result and last error, as asynq's Inspector.GetTaskInfo returns them,
// with one HMGET of the task's hash, asynq:{QUEUE}:t:ID. GetTaskInfo runs
// a Lua script, which has Redis copy the result into the script and back
// out: for a task of 128 vectors of 1536 dimensions (786 kB) that cost
// Redis more CPU than the export spent formatting it. The hash's fields
// and the message's protobuf field numbers are asynq's storage format,
// which tasks already in Redis hold across asynq versions;
// TestReadTaskMatchesInspector checks them against GetTaskInfo.
//
// Result and Payload refer to the bytes Redis sent: they must not be
// modified. A task that Redis does not hold is asynq.ErrTaskNotFound.
func readTask(ctx context.Context, rdb redis.Cmdable, queue, id string) (*asynq.TaskInfo, error) {
	vals, err := rdb.HMGet(ctx, "asynq:{"+queue+"}:t:"+id, "msg", "state", "result").Result()
	if err != nil {
		return nil, err
	}
	msg, _ := vals[0].(string)
	stateName, _ := vals[1].(string)
	result, _ := vals[2].(string)
	if msg == "" {
		return nil, fmt.Errorf("task %s in queue %s: %w", id, queue, asynq.ErrTaskNotFound)
	}
	state, ok := taskStates[stateName]
	if !ok {
		return nil, fmt.Errorf("task %s in queue %s: unknown state %q", id, queue, stateName)
	}
	info := &asynq.TaskInfo{ID: id, Queue: queue, State: state, Result: readOnlyBytes(result)}
	if info.Payload, info.LastErr, err = decodeTaskMessage(readOnlyBytes(msg)); err != nil {
		return nil, fmt.Errorf("task %s in queue %s: %w", id, queue, err)
	}
	return info, nil
}

// taskStates maps asynq's names of task states, as its hashes store them,
// to its TaskState values.
var taskStates = map[string]asynq.TaskState{
	"active":      asynq.TaskStateActive,
	"pending":     asynq.TaskStatePending,
	"scheduled":   asynq.TaskStateScheduled,
	"retry":       asynq.TaskStateRetry,
	"archived":    asynq.TaskStateArchived,
	"completed":   asynq.TaskStateCompleted,
	"aggregating": asynq.TaskStateAggregating,
}

// Field numbers of asynq's TaskMessage (internal/proto/asynq.proto).
const (
	taskMessagePayload  protowire.Number = 2
	taskMessageErrorMsg protowire.Number = 7
)

// decodeTaskMessage returns the payload and the last error of an asynq
// TaskMessage, skipping its other fields. The payload refers to b.
func decodeTaskMessage(b []byte) (payload []byte, lastErr string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, "", fmt.Errorf("task message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == taskMessagePayload && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, "", fmt.Errorf("task message payload: %w", protowire.ParseError(n))
			}
			payload, b = v, b[n:]
		case num == taskMessageErrorMsg && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, "", fmt.Errorf("task message error: %w", protowire.ParseError(n))
			}
			lastErr, b = string(v), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, "", fmt.Errorf("task message field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return payload, lastErr, nil
}

// readOnlyBytes returns the bytes of s without copying them; they must
// not be modified. go-redis reads each reply value into a buffer of its
// own and hands it over as a string, so this saves a copy of every task.
func readOnlyBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
