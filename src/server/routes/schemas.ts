import { z } from 'zod';

/** RFC 9457 problem details, plus our stable `code`. */
export const ProblemView = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
  })
  .catchall(z.unknown());
