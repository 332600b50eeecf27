using System.Text.Json;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Lifecycle;

/// <summary>Lifecycle configurations through boto3: stored and read back as sent, and every bad one refused with S3's code, changing nothing.</summary>
public sealed class LifecycleConfigurationTests(S3Gateway gateway) : IClassFixture<S3Gateway>
{
    [Fact]
    public async Task A_configuration_round_trips_and_bad_ones_are_refused_with_s3s_codes_leaving_it_unchanged()
    {
        var boto = await Boto3.RunAsync(gateway, """
            from datetime import datetime, timezone
            from botocore.exceptions import ParamValidationError
            s3.create_bucket(Bucket='rules')
            utc = timezone.utc
            rules = [
                {'ID': 'logs', 'Status': 'Enabled', 'Filter': {'And': {'Prefix': 'logs/', 'Tags': [{'Key': 'class', 'Value': 'temp'}],
                    'ObjectSizeGreaterThan': 10, 'ObjectSizeLessThan': 1000}}, 'Expiration': {'Days': 30}},
                {'ID': 'dated', 'Status': 'Disabled', 'Filter': {'Prefix': 'old/'}, 'Expiration': {'Date': datetime(2030, 1, 1, tzinfo=utc)}},
                {'ID': 'uploads', 'Status': 'Enabled', 'Filter': {}, 'AbortIncompleteMultipartUpload': {'DaysAfterInitiation': 7},
                    'NoncurrentVersionExpiration': {'NoncurrentDays': 5, 'NewerNoncurrentVersions': 2}},
            ]
            def put(bucket, rules):
                try:
                    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={'Rules': rules})
                    return None
                except ClientError as e:
                    return e.response['Error']['Code']
                except ParamValidationError:
                    return 'client-side'
            def rule(**fields):
                return dict({'ID': 'bad', 'Status': 'Enabled', 'Filter': {'Prefix': ''}}, **fields)
            missing = error(lambda: s3.get_bucket_lifecycle_configuration(Bucket='rules'))
            stored = put('rules', rules)
            got = s3.get_bucket_lifecycle_configuration(Bucket='rules')['Rules']
            errors = {
                'zero_days': put('rules', [rule(Expiration={'Days': 0})]),
                'not_midnight': put('rules', [rule(Expiration={'Date': datetime(2030, 1, 1, 12, tzinfo=utc)})]),
                'no_action': put('rules', [rule()]),
                'transition': put('rules', [rule(Transitions=[{'Days': 30, 'StorageClass': 'GLACIER'}])]),
                'abort_with_tag': put('rules', [rule(Filter={'Tag': {'Key': 'a', 'Value': 'b'}}, AbortIncompleteMultipartUpload={'DaysAfterInitiation': 1})]),
                'sizes_crossed': put('rules', [rule(Filter={'And': {'Prefix': 'x', 'ObjectSizeGreaterThan': 100, 'ObjectSizeLessThan': 50}}, Expiration={'Days': 1})]),
                'duplicate_ids': put('rules', [rule(Expiration={'Days': 1}), rule(Expiration={'Days': 2})]),
                'no_bucket': put('nope', rules),
            }
            after = s3.get_bucket_lifecycle_configuration(Bucket='rules')['Rules']
            s3.delete_bucket_lifecycle(Bucket='rules')
            deleted = error(lambda: s3.get_bucket_lifecycle_configuration(Bucket='rules'))
            result({'missing': missing, 'stored': stored, 'got': json.loads(json.dumps(got, default=str)), 'unchanged': got == after,
                    'errors': errors, 'deleted': deleted})
            """);

        Assert.Equal("NoSuchLifecycleConfiguration", boto.GetProperty("missing").GetString());
        Assert.Equal(JsonValueKind.Null, boto.GetProperty("stored").ValueKind);
        var got = boto.GetProperty("got");
        Assert.Equal(["logs", "dated", "uploads"], got.EnumerateArray().Select(r => r.GetProperty("ID").GetString()));
        var and = got[0].GetProperty("Filter").GetProperty("And");
        Assert.Equal(("logs/", 10, 1000, "temp"), (and.GetProperty("Prefix").GetString(), and.GetProperty("ObjectSizeGreaterThan").GetInt32(),
            and.GetProperty("ObjectSizeLessThan").GetInt32(), and.GetProperty("Tags")[0].GetProperty("Value").GetString()));
        Assert.Equal(30, got[0].GetProperty("Expiration").GetProperty("Days").GetInt32());
        Assert.Equal("Disabled", got[1].GetProperty("Status").GetString());
        Assert.StartsWith("2030-01-01 00:00:00", got[1].GetProperty("Expiration").GetProperty("Date").GetString(), StringComparison.Ordinal);
        Assert.Equal(7, got[2].GetProperty("AbortIncompleteMultipartUpload").GetProperty("DaysAfterInitiation").GetInt32());
        Assert.Equal(2, got[2].GetProperty("NoncurrentVersionExpiration").GetProperty("NewerNoncurrentVersions").GetInt32());

        var errors = boto.GetProperty("errors");
        Assert.Equal(
            new Dictionary<string, string?>
            {
                ["zero_days"] = "InvalidArgument",
                ["not_midnight"] = "InvalidArgument",
                ["no_action"] = "InvalidRequest",
                ["transition"] = "NotImplemented",
                ["abort_with_tag"] = "InvalidRequest",
                ["sizes_crossed"] = "InvalidArgument",
                ["duplicate_ids"] = "InvalidArgument",
                ["no_bucket"] = "NoSuchBucket",
            },
            errors.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()));
        Assert.True(boto.GetProperty("unchanged").GetBoolean());
        Assert.Equal("NoSuchLifecycleConfiguration", boto.GetProperty("deleted").GetString());
    }
}
