using System.Buffers;
using Storage.Gateway.Concurrency;

namespace Storage.Gateway.Nodes;

/// <summary>
/// A node that is a local folder. Writes go to a temporary file that is renamed over the final name; the write then
/// waits for a flush round of this node (<see cref="GroupedRounds{T}"/>: one <c>syncfs</c> shared by every write that
/// finished before it) and checks its own file's write-back, so an acknowledged part survives a power cut. A write
/// cut off by a power cut may leave an incomplete part under its name: no record names it (the commit comes after
/// every part is durable), its block CRCs would refuse it, and its write intent has the sweeper delete it.
/// Large parts are written back as they grow (<see cref="WriteBackBytes"/> at a time), so a round never waits
/// behind gigabytes of dirty pages. Keys are checked twice: by syntax (<see cref="PartKeys.IsSafe"/>) and by
/// resolving the final path under the root.
/// </summary>
public sealed class FolderNode : IStorageNode
{
    private const string TempFolder = ".tmp";
    private const int CopyBufferBytes = 256 * 1024;

    /// <summary>
    /// How much of a part may be written before its write-back starts; a writer waits for the previous such range, so
    /// it holds at most twice this in dirty pages (8 parts of a large object: 16 MiB). Small because an fsync elsewhere
    /// on the file system (the metadata's commit) waits for the write-back in flight: with 4 MiB a small PUT's p99 beside
    /// a 1 GiB PUT was 5.6–6.3 × its p99 alone, with 1 MiB 2.9–3.6 ×, the large PUT as fast (docs/benchmarks.md).
    /// </summary>
    private const long WriteBackBytes = 1024 * 1024;

    private readonly string _root;
    private readonly GroupedRounds<bool> _flushes;

    public FolderNode(string id, string path)
    {
        Id = id;
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)) + Path.DirectorySeparatorChar;
        Address = _root;
        // A blocking flush on a pool thread, as asynchronous file I/O on Linux is anyway.
        _flushes = new GroupedRounds<bool>(() => Task.Run(() =>
        {
            DiskFlush.FileSystem(_root);
            return true;
        }));
    }

    public string Id { get; }

    public string Address { get; }

    /// <summary>Creates the folder; only done when the node is registered, so a vanished folder reads as a lost node.</summary>
    public Task CreateAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(_root, TempFolder));
        return Task.CompletedTask;
    }

    public async Task PutAsync(string key, Stream content, long length, CancellationToken cancellationToken)
    {
        var target = Resolve(key);
        EnsureRootExists();
        var temp = Path.Combine(_root, TempFolder, $"{Guid.NewGuid():N}");
        try
        {
            long written;
            await using (var file = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Options = FileOptions.Asynchronous,
                BufferSize = 0,
                PreallocationSize = Math.Max(0, length),
            }))
            {
                written = await CopyWritingBackAsync(content, file, cancellationToken);
                if (length >= 0 && written != length)
                {
                    throw new IOException($"Part '{key}' on node '{Id}' received {written} bytes, expected {length}.");
                }

                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Move(temp, target, overwrite: true);

                // The file's bytes, its new folder and the rename, with every other write of this moment. A write-back
                // error is reported to whichever round is running (or none), so this part's own is read from its handle.
                await _flushes.WaitAsync(cancellationToken);
                DiskFlush.CheckWrittenBack(file.SafeFileHandle);
            }
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Copies the body, starting write-back every <see cref="WriteBackBytes"/> and waiting for the range before.</summary>
    private static async Task<long> CopyWritingBackAsync(Stream content, FileStream file, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            long written = 0, backTo = 0, waitedTo = 0;
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                written += read;
                if (written - backTo >= WriteBackBytes)
                {
                    if (backTo > waitedTo)
                    {
                        DiskFlush.WriteBack(file.SafeFileHandle, waitedTo, backTo - waitedTo, wait: true);
                        waitedTo = backTo;
                    }

                    DiskFlush.WriteBack(file.SafeFileHandle, backTo, written - backTo, wait: false);
                    backTo = written;
                }
            }

            return written;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public Task<Stream> OpenReadAsync(string key, long offset, long length, CancellationToken cancellationToken)
    {
        var path = Resolve(key);
        try
        {
            var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
                BufferSize = 0,
            });
            file.Position = offset;
            return Task.FromResult<Stream>(file);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PartNotFoundException(Id, key);
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var path = Resolve(key);
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Already gone with its folder.
        }

        return Task.CompletedTask;
    }

    public IAsyncEnumerable<PartInfo> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        EnsureRootExists();
        return Enumerate(prefix).ToAsyncEnumerable();
    }

    public Task<PartInfo?> StatAsync(string key, CancellationToken cancellationToken)
    {
        var file = new FileInfo(Resolve(key));
        return Task.FromResult(file.Exists ? new PartInfo(key, file.Length, file.LastWriteTimeUtc) : null);
    }

    /// <summary>
    /// The folder must exist: a missing one reads as a lost node (an unmounted disk, when the node's folder is a
    /// subfolder of the mount, as recommended). An existing folder without the node's working folder is an empty disk
    /// put back: it is prepared again, and the identity check then finds out that its parts are gone.
    /// </summary>
    public Task<NodeCapacity?> ProbeAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_root))
        {
            throw new DirectoryNotFoundException($"Node '{Id}' folder '{_root}' is missing.");
        }

        Directory.CreateDirectory(Path.Combine(_root, TempFolder));
        var drive = new DriveInfo(_root);
        return Task.FromResult<NodeCapacity?>(new NodeCapacity(drive.TotalSize, drive.AvailableFreeSpace));
    }

    private IEnumerable<PartInfo> Enumerate(string prefix)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true };
        foreach (var file in new DirectoryInfo(_root).EnumerateFiles("*", options))
        {
            var key = Path.GetRelativePath(_root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(TempFolder + "/", StringComparison.Ordinal) && key.StartsWith(prefix, StringComparison.Ordinal))
            {
                yield return new PartInfo(key, file.Length, file.LastWriteTimeUtc);
            }
        }
    }

    private void EnsureRootExists()
    {
        if (!Directory.Exists(Path.Combine(_root, TempFolder)))
        {
            throw new DirectoryNotFoundException($"Node '{Id}' folder '{_root}' is missing.");
        }
    }

    private string Resolve(string key)
    {
        PartKeys.EnsureSafe(key);
        var full = Path.GetFullPath(Path.Combine(_root, key));
        if (!full.StartsWith(_root, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{key}' resolves outside node '{Id}'.", nameof(key));
        }

        return full;
    }
}
