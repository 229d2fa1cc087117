package job

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"

	"github.com/llmq/llmq/tasks"
)

// enqueueReplacing is the second half of Enqueue for an independent task
// (not a job batch) in queue: when asynq holds a task of the same ID that
// is archived — it failed for good — that task is deleted and the new one
// enqueued in its place, so that sending the same input again after
// fixing the cause (a bad API key, say) runs it again rather than
// returning the old failure. A task of the same ID that is queued,
// running or completed is kept, as Enqueue keeps it.
func (p *prepared) enqueueReplacing(ctx context.Context, client *asynq.Client, insp *asynq.Inspector, queue string) (Enqueued, error) {
	info, err := client.EnqueueContext(ctx, p.task)
	replaced := false
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		id := tasks.ID(p.task)
		if old, ierr := insp.GetTaskInfo(queue, id); ierr == nil && old.State == asynq.TaskStateArchived {
			if derr := insp.DeleteTask(queue, id); derr == nil || errors.Is(derr, asynq.ErrTaskNotFound) {
				info, err = client.EnqueueContext(ctx, p.task)
				replaced = err == nil
			}
		}
	}
	p.send.End(info, err)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return Enqueued{Task: p.task, Existed: true}, nil
	case err != nil:
		return Enqueued{}, err
	}
	return Enqueued{Task: p.task, Info: info, Replaced: replaced}, nil
}
