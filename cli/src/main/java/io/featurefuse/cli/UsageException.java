package io.featurefuse.cli;

/** Bad command-line input: the message is one sentence naming the option or value, and fuse exits with 2. */
final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
