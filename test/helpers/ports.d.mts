export function freePort(): Promise<number>;
export function deadUrl(): Promise<string>;
