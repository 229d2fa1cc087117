package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// TypeEmbedItem is the task type of a single text to embed that the worker
// may merge with others into one provider request (micro-batching).
const TypeEmbedItem = "embedding:item"

// EmbedItemPayload is the JSON payload of a TypeEmbedItem task.
//
//	{"provider": "openai", "model": "text-embedding-3-small", "text": "hello", "retention": 86400}
type EmbedItemPayload struct {
	// Provider, Model and Dimensions are as in EmbedPayload. Only items
	// that agree on all three are merged.
	Provider   string `json:"provider,omitempty"`
	Model      string `json:"model,omitempty"`
	Dimensions int    `json:"dimensions,omitempty"`
	// Text is the text to embed; not empty.
	Text string `json:"text"`
	// Retention is how long the result is kept, in seconds. NewEmbedItemTask
	// sets it from an asynq.Retention option, else from DefaultRetention.
	Retention int64 `json:"retention,omitempty"`
}

// ErrNoResult is returned by ReadItemResult while an item has no result.
var ErrNoResult = errors.New("no result yet")

// itemResultPrefix starts the Redis key of an item's result.
const itemResultPrefix = "llmq:item:"

// ItemGroupShards is how many asynq groups the items of one provider,
// model and dimensions are spread over. asynq aggregates at most one set
// of GroupMaxSize tasks per group each time it checks a queue (every
// GroupGracePeriod, at most every 7 s), so one group caps a worker at
// GroupMaxSize items per check; 16 groups let it merge 16 sets per check.
const ItemGroupShards = 16

// Validate reports why p cannot be run, wrapping ErrInvalidPayload.
func (p EmbedItemPayload) Validate() error {
	return p.aggregate([]string{"x"}).Validate()
}

// ItemID returns the item's ID: a hash of its provider, model, dimensions
// and text. Identical items have the same ID, task ID and result key, so
// an item that is queued, or whose result is kept, is not embedded again.
func ItemID(p EmbedItemPayload) string {
	b, _ := json.Marshal(EmbedItemPayload{Provider: p.provider(), Model: p.Model, Dimensions: p.Dimensions, Text: p.Text})
	return contentID(TypeEmbedItem, b)
}

// ItemGroup returns the asynq group an item joins: items of one group may
// share a provider request.
func ItemGroup(p EmbedItemPayload) string {
	id := ItemID(p)
	shard, _ := strconv.ParseUint(id[:4], 16, 32)
	return fmt.Sprintf("embed:%s:%s:%d:%d", p.provider(), p.Model, p.Dimensions, shard%ItemGroupShards)
}

// ItemResultKey is the Redis key of the item's result: an EncodeEmbedResult
// encoding of one vector, or of one failed text, kept for the item's
// Retention.
func ItemResultKey(id string) string { return itemResultPrefix + id }

// NewEmbedItemTask validates p and returns a task that embeds one text,
// merged by the worker with other items of its group (ItemGroup) into one
// provider request of up to GROUP_MAX_SIZE texts. Its ID is ItemID(p):
// enqueueing the same item while it waits fails with
// asynq.ErrTaskIDConflict. Aggregation drops the task, so asynq's
// inspector loses track of it; read its result with ReadItemResult.
//
//	t, _ := tasks.NewEmbedItemTask(tasks.EmbedItemPayload{Text: "hello"}, asynq.Retention(time.Hour))
//	_, err := client.Enqueue(t)
//	...
//	res, err := tasks.ReadItemResult(ctx, rdb, tasks.ItemID(p)) // ErrNoResult until done
func NewEmbedItemTask(p EmbedItemPayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	retention := DefaultRetention
	for _, o := range opts {
		if o.Type() == asynq.RetentionOpt {
			if d, ok := o.Value().(time.Duration); ok {
				retention = d
			}
		}
	}
	p.Retention = int64(max(retention, time.Second) / time.Second)
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode embed item payload: %w", err)
	}
	defaults := []asynq.Option{
		asynq.Queue(QueueEmbeddings),
		asynq.Timeout(EmbedTimeout),
		asynq.MaxRetry(EmbedMaxRetry),
		asynq.TaskID(ItemID(p)),
		asynq.Group(ItemGroup(p)),
	}
	return asynq.NewTask(TypeEmbedItem, b, append(defaults, opts...)...), nil
}

// ReadItemResult returns the stored result of the item with the given ID
// (ItemID): one vector, or one entry in Errors. It returns ErrNoResult
// while there is none.
func ReadItemResult(ctx context.Context, rdb redis.Cmdable, id string) (*EmbedResult, error) {
	b, err := rdb.Get(ctx, ItemResultKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoResult
	}
	if err != nil {
		return nil, fmt.Errorf("read item result: %w", err)
	}
	return DecodeEmbedResult(b)
}

func (p EmbedItemPayload) provider() string {
	if p.Provider == "" {
		return ProviderOpenAI
	}
	return p.Provider
}

// aggregate returns the TypeEmbed payload of the item alone.
func (p EmbedItemPayload) aggregate(ids []string) EmbedPayload {
	return EmbedPayload{Provider: p.Provider, Model: p.Model, Dimensions: p.Dimensions,
		Texts: []string{p.Text}, Items: ids, ItemRetention: p.Retention}
}

// AggregateItems is the asynq.GroupAggregator of TypeEmbedItem tasks: it
// merges a group's items into one TypeEmbed task whose handler stores each
// item's result under ItemResultKey. The merged task keeps no result of its
// own (no retention). Items of one group agree on provider, model and
// dimensions (ItemGroup names them). A task that does not decode is
// dropped: asynq's aggregators cannot return an error, and NewEmbedItemTask
// never makes one.
func AggregateItems(group string, ts []*asynq.Task) *asynq.Task {
	var agg EmbedPayload
	for _, t := range ts {
		var p EmbedItemPayload
		if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Text == "" {
			continue
		}
		if len(agg.Texts) == 0 {
			agg = EmbedPayload{Provider: p.Provider, Model: p.Model, Dimensions: p.Dimensions}
		}
		agg.Texts = append(agg.Texts, p.Text)
		agg.Items = append(agg.Items, ItemID(p))
		agg.ItemRetention = max(agg.ItemRetention, p.Retention)
	}
	b, _ := json.Marshal(agg)
	return asynq.NewTask(TypeEmbed, b, asynq.Timeout(EmbedTimeout), asynq.MaxRetry(EmbedMaxRetry))
}
