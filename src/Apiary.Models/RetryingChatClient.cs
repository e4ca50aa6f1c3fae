using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Apiary.Models;

/// <summary>
/// Retries calls that failed with a transient <see cref="ModelCallException"/> as <see cref="ModelRetryPolicy"/>
/// says. A stream is retried only while nothing of it has reached the caller: once an update is out, a failure is
/// the caller's to handle. When attempts run out, the last failure is thrown with how many were made.
/// </summary>
public sealed class RetryingChatClient : DelegatingChatClient
{
    private readonly ModelRetryPolicy _policy;
    private readonly TimeProvider _timeProvider;

    /// <summary>Wraps <paramref name="innerClient"/>; waits are timed by <paramref name="timeProvider"/> (the system clock when null).</summary>
    public RetryingChatClient(IChatClient innerClient, ModelRetryPolicy policy, TimeProvider? timeProvider = null)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(policy);
        policy.Validate();
        _policy = policy;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        // The messages may be a lazy sequence; every attempt must send the same ones.
        var list = messages as IReadOnlyCollection<ChatMessage> ?? messages.ToList();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
            }
            catch (ModelCallException ex) when (ex.IsTransient)
            {
                await WaitOrThrowAsync(ex, attempt, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return StreamAsync(messages as IReadOnlyCollection<ChatMessage> ?? messages.ToList(), options, cancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        IReadOnlyCollection<ChatMessage> messages, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var stream = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                bool any;
                try
                {
                    any = await stream.MoveNextAsync().ConfigureAwait(false);
                }
                catch (ModelCallException ex) when (ex.IsTransient)
                {
                    await WaitOrThrowAsync(ex, attempt, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (!any)
                {
                    yield break;
                }

                yield return stream.Current;
                while (await stream.MoveNextAsync().ConfigureAwait(false))
                {
                    yield return stream.Current;
                }

                yield break;
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task WaitOrThrowAsync(ModelCallException failure, int attempt, CancellationToken cancellationToken)
    {
        if (attempt >= _policy.MaxAttempts)
        {
            if (_policy.MaxAttempts == 1)
            {
                throw failure;
            }

            throw failure.WithSuffix($" (gave up after {attempt} attempts)");
        }

        // Jitter spreads agents that failed together; it need not be unpredictable, so the shared generator serves.
#pragma warning disable CA5394
        var delay = _policy.DelayAfter(attempt, failure.RetryAfter, 0.5 + (Random.Shared.NextDouble() / 2));
#pragma warning restore CA5394
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }
}
