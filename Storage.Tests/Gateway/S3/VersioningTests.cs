using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.S3;

/// <summary>Bucket versioning through boto3 and AWSSDK.S3 on the embedded store: versions, delete markers, the null version, listings.</summary>
public sealed class VersioningTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    [Fact]
    public async Task Overwrites_and_deletes_keep_the_history_a_delete_marker_hides_and_its_removal_restores()
    {
        var boto = await Boto3.RunAsync(gateway, """
            def status(bucket):
                return s3.get_bucket_versioning(Bucket=bucket).get('Status')
            def body(**args):
                return s3.get_object(Bucket='hist', **args)['Body'].read().decode()
            s3.create_bucket(Bucket='hist')
            before = status('hist')
            unversioned = s3.put_object(Bucket='hist', Key='k', Body=b'zero')
            bad = {
                'status': error(lambda: s3.put_bucket_versioning(Bucket='hist', VersioningConfiguration={'Status': 'Off'})),
                'mfa': error(lambda: s3.put_bucket_versioning(Bucket='hist', VersioningConfiguration={'Status': 'Enabled', 'MFADelete': 'Enabled'}, MFA='123 456')),
                'nobucket': error(lambda: s3.put_bucket_versioning(Bucket='nope', VersioningConfiguration={'Status': 'Enabled'})),
            }
            after_bad = status('hist')
            s3.put_bucket_versioning(Bucket='hist', VersioningConfiguration={'Status': 'Enabled'})
            ids = [s3.put_object(Bucket='hist', Key='k', Body=text.encode())['VersionId'] for text in ['one', 'two', 'three']]
            bodies = [body(Key='k', VersionId=v) for v in ['null'] + ids]
            head = s3.head_object(Bucket='hist', Key='k')
            deleted = s3.delete_object(Bucket='hist', Key='k')
            hidden = {}
            try:
                s3.get_object(Bucket='hist', Key='k')
            except ClientError as e:
                hidden = {'code': e.response['Error']['Code'], 'marker': e.response['ResponseMetadata']['HTTPHeaders'].get('x-amz-delete-marker'),
                          'version': e.response['ResponseMetadata']['HTTPHeaders'].get('x-amz-version-id')}
            marker_get = error(lambda: s3.get_object(Bucket='hist', Key='k', VersionId=deleted['VersionId']))
            listing = s3.list_object_versions(Bucket='hist')
            gone = error(lambda: s3.get_object(Bucket='hist', Key='k', VersionId='0' * 32))
            malformed = error(lambda: s3.get_object(Bucket='hist', Key='k', VersionId='not-an-id'))
            removed = s3.delete_object(Bucket='hist', Key='k', VersionId=deleted['VersionId'])
            restored = body(Key='k')
            s3.delete_object(Bucket='hist', Key='k', VersionId=ids[2])
            promoted = body(Key='k')

            # Copying an older version onto its key restores it as a new version; tags belong to one version.
            copied = s3.copy_object(Bucket='hist', Key='k', CopySource={'Bucket': 'hist', 'Key': 'k', 'VersionId': ids[0]})
            s3.put_object_tagging(Bucket='hist', Key='k', VersionId=ids[0], Tagging={'TagSet': [{'Key': 'kept', 'Value': 'yes'}]})
            tags = [s3.get_object_tagging(Bucket='hist', Key='k', VersionId=v)['TagSet'] for v in [ids[0], copied['VersionId']]]

            # Suspended: writes are the null version, which replaces the old null version; the others stay.
            s3.put_bucket_versioning(Bucket='hist', VersioningConfiguration={'Status': 'Suspended'})
            suspended = s3.put_object(Bucket='hist', Key='k', Body=b'suspended')
            versions = [(v['VersionId'], v['IsLatest']) for v in s3.list_object_versions(Bucket='hist')['Versions']]
            null_body = body(Key='k', VersionId='null')

            # Emptying the bucket the way tools do: every version and marker by id.
            s3.put_bucket_versioning(Bucket='hist', VersioningConfiguration={'Status': 'Enabled'})
            s3.delete_object(Bucket='hist', Key='k')
            not_empty = error(lambda: s3.delete_bucket(Bucket='hist'))
            everything = s3.list_object_versions(Bucket='hist')
            batch = s3.delete_objects(Bucket='hist', Delete={'Objects': [{'Key': v['Key'], 'VersionId': v['VersionId']} for v in everything.get('Versions', []) + everything.get('DeleteMarkers', [])]})
            s3.delete_bucket(Bucket='hist')
            result({'before': before, 'unversioned': 'VersionId' in unversioned, 'bad': bad, 'after_bad': after_bad, 'ids': ids, 'bodies': bodies,
                    'head_version': head['VersionId'], 'deleted': [deleted.get('DeleteMarker'), deleted.get('VersionId')], 'hidden': hidden,
                    'marker_get': marker_get, 'listed': [[v['VersionId'], v['IsLatest']] for v in listing['Versions']],
                    'markers': [[m['VersionId'], m['IsLatest']] for m in listing['DeleteMarkers']], 'gone': gone, 'malformed': malformed,
                    'removed': [removed.get('DeleteMarker'), removed.get('VersionId')], 'restored': restored, 'promoted': promoted,
                    'copied': [copied.get('CopySourceVersionId'), copied.get('VersionId')], 'tags': tags,
                    'suspended': suspended.get('VersionId'), 'versions': versions, 'null_body': null_body, 'not_empty': not_empty,
                    'batch': [[d.get('VersionId'), d.get('DeleteMarker', False)] for d in batch['Deleted']], 'batch_errors': batch.get('Errors', [])})
            """);

        Assert.Equal(JsonValueKind.Null, boto.GetProperty("before").ValueKind);
        Assert.False(boto.GetProperty("unversioned").GetBoolean());
        Assert.Equal("""{"status":"MalformedXML","mfa":"NotImplemented","nobucket":"NoSuchBucket"}""", Compact(boto.GetProperty("bad")));
        Assert.Equal(JsonValueKind.Null, boto.GetProperty("after_bad").ValueKind);
        var ids = boto.GetProperty("ids").EnumerateArray().Select(i => i.GetString()!).ToArray();
        Assert.Equal(3, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        Assert.Equal(["zero", "one", "two", "three"], boto.GetProperty("bodies").EnumerateArray().Select(b => b.GetString()));
        Assert.Equal(ids[2], boto.GetProperty("head_version").GetString());

        var deleted = boto.GetProperty("deleted");
        Assert.True(deleted[0].GetBoolean());
        var markerId = deleted[1].GetString();
        var hidden = boto.GetProperty("hidden");
        Assert.Equal(("NoSuchKey", "true", markerId), (hidden.GetProperty("code").GetString(), hidden.GetProperty("marker").GetString(), hidden.GetProperty("version").GetString()));
        Assert.Equal("MethodNotAllowed", boto.GetProperty("marker_get").GetString());
        Assert.Equal($$"""[["{{ids[2]}}",false],["{{ids[1]}}",false],["{{ids[0]}}",false],["null",false]]""", Compact(boto.GetProperty("listed")));
        Assert.Equal($$"""[["{{markerId}}",true]]""", Compact(boto.GetProperty("markers")));
        Assert.Equal(("NoSuchVersion", "InvalidArgument"), (boto.GetProperty("gone").GetString(), boto.GetProperty("malformed").GetString()));
        Assert.Equal($$"""[true,"{{markerId}}"]""", Compact(boto.GetProperty("removed")));
        Assert.Equal(("three", "two"), (boto.GetProperty("restored").GetString(), boto.GetProperty("promoted").GetString()));

        var copied = boto.GetProperty("copied");
        Assert.Equal(ids[0], copied[0].GetString());
        Assert.DoesNotContain(copied[1].GetString(), ids);
        Assert.Equal("""[[{"Key":"kept","Value":"yes"}],[]]""", Compact(boto.GetProperty("tags")));

        Assert.Equal("null", boto.GetProperty("suspended").GetString());
        Assert.Equal($$"""[["null",true],["{{copied[1].GetString()}}",false],["{{ids[1]}}",false],["{{ids[0]}}",false]]""",
            Compact(boto.GetProperty("versions")));
        Assert.Equal("suspended", boto.GetProperty("null_body").GetString());
        Assert.Equal("BucketNotEmpty", boto.GetProperty("not_empty").GetString());
        Assert.Equal(5, boto.GetProperty("batch").GetArrayLength());
        Assert.Single(boto.GetProperty("batch").EnumerateArray(), d => d[1].GetBoolean());
        Assert.Equal(0, boto.GetProperty("batch_errors").GetArrayLength());
    }

    /// <summary>Python's JSON with its spaces, as System.Text.Json writes it.</summary>
    private static string Compact(JsonElement element) => JsonSerializer.Serialize(element);

    [Fact]
    public async Task A_repeated_complete_in_a_versioned_bucket_answers_the_version_the_first_made()
    {
        using var s3 = gateway.Client();
        await s3.PutBucketAsync("retried-versions");
        await s3.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "retried-versions", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });
        var upload = await s3.InitiateMultipartUploadAsync("retried-versions", "k");
        var part = await s3.UploadPartAsync(new UploadPartRequest { BucketName = "retried-versions", Key = "k", UploadId = upload.UploadId, PartNumber = 1, InputStream = new MemoryStream("once"u8.ToArray()) });
        var complete = new CompleteMultipartUploadRequest { BucketName = "retried-versions", Key = "k", UploadId = upload.UploadId, PartETags = [new PartETag(1, part.ETag)] };
        var first = await s3.CompleteMultipartUploadAsync(complete);
        var again = await s3.CompleteMultipartUploadAsync(complete);
        Assert.NotNull(first.VersionId);
        Assert.NotEqual("null", first.VersionId);
        Assert.Equal((first.ETag, first.VersionId), (again.ETag, again.VersionId));
        Assert.Equal(first.VersionId, (await s3.GetObjectMetadataAsync("retried-versions", "k")).VersionId);
    }

    [Fact]
    public async Task Ten_thousand_versions_list_page_by_page_in_key_order_newest_first()
    {
        using var s3 = gateway.Client();
        await s3.PutBucketAsync("many-versions");
        await s3.PutBucketVersioningAsync(new PutBucketVersioningRequest { BucketName = "many-versions", VersioningConfig = new S3BucketVersioningConfig { Status = VersionStatus.Enabled } });
        const int Keys = 16;
        const int VersionsPerKey = 625;
        var written = new List<string>[Keys];
        await Parallel.ForEachAsync(Enumerable.Range(0, Keys), new ParallelOptions { MaxDegreeOfParallelism = Keys }, async (k, ct) =>
        {
            written[k] = [];
            for (var v = 0; v < VersionsPerKey; v++)
            {
                var put = await s3.PutObjectAsync(new PutObjectRequest { BucketName = "many-versions", Key = $"dir/key-{k:d2}", ContentBody = $"{k}.{v}" }, ct);
                written[k].Add(put.VersionId);
            }
        });

        var expected = Enumerable.Range(0, Keys).SelectMany(k => Enumerable.Reverse(written[k]).Select((id, i) => $"dir/key-{k:d2} {id} {i == 0}")).ToList();
        var listed = new List<string>();
        var request = new ListVersionsRequest { BucketName = "many-versions", Prefix = "dir/", MaxKeys = 1000 };
        var pages = 0;
        while (true)
        {
            var page = await s3.ListVersionsAsync(request);
            pages++;
            Assert.True(page.Versions.Count <= 1000);
            listed.AddRange(page.Versions.Select(v => $"{v.Key} {v.VersionId} {v.IsLatest}"));
            if (page.IsTruncated != true)
            {
                break;
            }

            (request.KeyMarker, request.VersionIdMarker) = (page.NextKeyMarker, page.NextVersionIdMarker);
        }

        Assert.Equal(10, pages);
        Assert.Equal(expected, listed);

        // A delimiter folds every version under a common prefix into it.
        var folded = await s3.ListVersionsAsync(new ListVersionsRequest { BucketName = "many-versions", Delimiter = "/" });
        Assert.Equal(["dir/"], folded.CommonPrefixes);
        Assert.Null(folded.Versions);
        var bad = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.ListVersionsAsync(new ListVersionsRequest { BucketName = "many-versions", KeyMarker = "dir/key-00", VersionIdMarker = "not-a-version" }));
        Assert.Equal("InvalidArgument", bad.ErrorCode);

        // Emptying the bucket page by page, each page's versions deleted before the next is asked for (its marker gone).
        var removed = 0;
        request = new ListVersionsRequest { BucketName = "many-versions", MaxKeys = 1000 };
        while (true)
        {
            var page = await s3.ListVersionsAsync(request);
            var batch = await s3.DeleteObjectsAsync(new DeleteObjectsRequest { BucketName = "many-versions", Objects = [.. page.Versions.Select(v => new KeyVersion { Key = v.Key, VersionId = v.VersionId })] });
            removed += batch.DeletedObjects.Count;
            if (page.IsTruncated != true)
            {
                break;
            }

            (request.KeyMarker, request.VersionIdMarker) = (page.NextKeyMarker, page.NextVersionIdMarker);
        }

        Assert.Equal(Keys * VersionsPerKey, removed);
        await s3.DeleteBucketAsync("many-versions");
    }
}
