"""The lab's Redis: a private server per kernel (or a shared one by ``REDIS_URL``) and the prefix-scoped target every mechanism talks through."""
