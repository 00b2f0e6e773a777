/**
 * Fresh pipeline topics (input, output, dead letters, group) whose input is pre-filled before
 * anything consumes it, so a run measures draining a backlog, and their removal afterwards.
 */
import type { Message } from 'kafkajs';
import { endOffsets, withAdmin, type PartitionOffsets } from '../helpers/kafka-test-helpers.js';
import {
  createPipelineTopics,
  deletePipelineTopics,
  produceMessages,
  type PipelineTopics,
} from '../helpers/pipeline-fixture.js';
import { progress } from './bench-table.js';

export const INPUT_PARTITIONS = 6;

export interface PrefilledInput {
  topics: PipelineTopics;
  /** End offsets of the input after filling: a drain is done when the group has committed these. */
  end: PartitionOffsets;
}

export async function prefilledInput(
  prefix: string,
  messages: readonly Message[],
): Promise<PrefilledInput> {
  const topics = await createPipelineTopics(prefix, INPUT_PARTITIONS);
  progress(`producing ${messages.length} events to ${topics.input}`);
  await produceMessages(topics.input, [...messages]);
  const end = await endOffsets(topics.input);
  const total = Object.values(end).reduce((sum, offset) => sum + offset, 0);
  if (total !== messages.length) {
    throw new Error(`${topics.input} holds ${total} records, expected ${messages.length}`);
  }
  return { topics, end };
}

/** Deletes the topics and the (by now empty) consumer group; failures only warn. */
export async function removePipeline(topics: PipelineTopics): Promise<void> {
  try {
    await withAdmin((admin) => admin.deleteGroups([topics.groupId]));
  } catch (error) {
    progress(`could not delete group ${topics.groupId}: ${String(error)}`);
  }
  try {
    await deletePipelineTopics(topics);
  } catch (error) {
    progress(`could not delete topics of ${topics.input}: ${String(error)}`);
  }
}
