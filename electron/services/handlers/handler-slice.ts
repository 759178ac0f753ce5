import type { HostHandlers } from '../../../shared/contract';

/** The contract's handlers whose method names begin with one of `Prefixes` (`chats.`, say): one domain's slice. */
export type HandlerSlice<Prefixes extends string> = Pick<HostHandlers, Extract<keyof HostHandlers, `${Prefixes}.${string}`>>;
