using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Heed.Server;

/// <summary>
/// Kestrel's buffers: 4 KiB blocks like its own pool's, but at most <see cref="MaxFreeBlocks"/> kept free; a block
/// returned beyond that is left to the GC. Kestrel's pool keeps every block a burst ever needed and gives back 5% of them every
/// 10 s, so after 160 concurrent 8 MiB uploads it still held 36,000 blocks (142 MiB) a minute later, more than the whole idle
/// server. Written here because ASP.NET Core offers only its pool or the <see cref="IMemoryPoolFactory{T}"/> hook, no bound.
/// </summary>
internal sealed class BoundedBlockPool : MemoryPool<byte>
{
    /// <summary>The size of a block (a page, as Kestrel's).</summary>
    public const int BlockSize = 4096;

    /// <summary>
    /// Free blocks kept for reuse (4 MiB per pool; Kestrel makes one per listener and one for itself): 64 connections of small
    /// requests use a few hundred at once, so only bursts of large bodies allocate beyond it.
    /// </summary>
    public const int MaxFreeBlocks = 1024;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;

    /// <summary>
    /// Any size: a request above <see cref="BlockSize"/> gets an array of its own that the GC takes back when it is returned.
    /// With Kestrel's 4 KiB limit, a pipe asked for more (a JSON writer writing a 2.8 MB base64 string asks for 8.4 MB at once)
    /// rents from <c>ArrayPool&lt;byte&gt;.Shared</c>, which keeps such 16 MiB buffers for a minute or more after a burst.
    /// </summary>
    public override int MaxBufferSize => int.MaxValue;

    /// <summary>Blocks now kept free (for tests and diagnostics).</summary>
    public int FreeCount => Volatile.Read(ref _freeCount);

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            return new Large(minBufferSize);
        }

        if (_free.TryDequeue(out Block? block))
        {
            Interlocked.Decrement(ref _freeCount);
            return block;
        }

        return new Block(this);
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing) => _free.Clear();

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _freeCount) <= MaxFreeBlocks)
        {
            _free.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    /// <summary>A buffer larger than a block, never pooled.</summary>
    private sealed class Large(int size) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(size);

        public void Dispose()
        {
        }
    }

    /// <summary>
    /// One block in the ordinary heap, not the pinned-object heap as Kestrel's: the pinned heap is never compacted, so the few
    /// blocks kept after a burst, scattered over its regions, held five 32 MiB regions resident. Sockets pin a block only for
    /// the moment they copy into it.
    /// </summary>
    private sealed class Block(BoundedBlockPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = new byte[BlockSize];

        public void Dispose() => pool.Return(this);
    }
}

/// <summary>Gives Kestrel <see cref="BoundedBlockPool"/>s (registered in the server's services, where Kestrel looks for one).</summary>
internal sealed class BoundedBlockPoolFactory : IMemoryPoolFactory<byte>
{
    /// <inheritdoc />
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new BoundedBlockPool();
}
