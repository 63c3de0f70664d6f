// The payload converter of workflows and activities: Temporal's default (JSON), except that input it cannot decode
// (JSON that does not parse, an encoding it does not know) becomes an UndecodableInput value instead of an
// exception. An exception there fails the workflow *task*, which Temporal retries for ever; the value reaches the
// workflow, whose input check fails the workflow with a Usage error that says what to send.
import {
  BinaryPayloadConverter,
  CompositePayloadConverter,
  JsonPayloadConverter,
  UndefinedPayloadConverter,
  type Payload,
  type PayloadConverterWithEncoding,
} from '@temporalio/common';
import { UndecodableInput } from '../workflows/input.js';

/** The Temporal UI's "json/protobuf" encoding carries JSON text too: read it as JSON. */
class JsonProtobufAsJsonConverter implements PayloadConverterWithEncoding {
  readonly encodingType = 'json/protobuf';
  private readonly json = new JsonPayloadConverter();
  toPayload(): Payload | undefined {
    return undefined; // pgwarden never writes it
  }
  fromPayload<T>(payload: Payload): T {
    return this.json.fromPayload<T>(payload);
  }
}

class ForgivingPayloadConverter extends CompositePayloadConverter {
  constructor() {
    // Temporal's DefaultPayloadConverter, in its order, plus the UI's json/protobuf.
    super(new UndefinedPayloadConverter(), new BinaryPayloadConverter(), new JsonPayloadConverter(), new JsonProtobufAsJsonConverter());
  }

  override fromPayload<T>(payload: Payload, ...rest: unknown[]): T {
    try {
      return (super.fromPayload as (p: Payload, ...r: unknown[]) => T)(payload, ...rest);
    } catch (error) {
      return new UndecodableInput(error instanceof Error ? error.message : String(error)) as T;
    }
  }
}

export const payloadConverter = new ForgivingPayloadConverter();
