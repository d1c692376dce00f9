#!/bin/sh
# Creates, in LocalStack, what the workers deliver to: the bucket $BUCKET and
# one Firehose delivery stream per name in $STREAMS, each writing to
# s3://$BUCKET/<stream>/. Runs in the amazon/aws-cli image, pointed at
# LocalStack by AWS_ENDPOINT_URL. Safe to run again: it skips what exists.
set -eu
: "${BUCKET:?set BUCKET}" "${STREAMS:?set STREAMS}"

# LocalStack does not enforce IAM by default; the role is there so the
# streams look like real ones (Firehose needs a role to write to S3).
role=$(aws iam get-role --role-name firehose-delivery --query Role.Arn --output text 2>/dev/null ||
  aws iam create-role --role-name firehose-delivery --query Role.Arn --output text \
    --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}')

if aws s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  echo "bucket s3://$BUCKET exists"
else
  aws s3api create-bucket --bucket "$BUCKET" >/dev/null
  echo "created bucket s3://$BUCKET"
fi

for stream in $STREAMS; do
  if aws firehose describe-delivery-stream --delivery-stream-name "$stream" >/dev/null 2>&1; then
    echo "delivery stream $stream exists"
    continue
  fi
  aws firehose create-delivery-stream \
    --delivery-stream-name "$stream" \
    --delivery-stream-type DirectPut \
    --extended-s3-destination-configuration "{\"RoleARN\":\"$role\",\"BucketARN\":\"arn:aws:s3:::$BUCKET\",\"Prefix\":\"$stream/\",\"ErrorOutputPrefix\":\"errors/$stream/\",\"BufferingHints\":{\"SizeInMBs\":1,\"IntervalInSeconds\":60}}" \
    >/dev/null
  echo "created delivery stream $stream -> s3://$BUCKET/$stream/"
done

# A new stream is CREATING for a moment; a PutRecordBatch to it would fail.
for stream in $STREAMS; do
  tries=0
  until [ "$(aws firehose describe-delivery-stream --delivery-stream-name "$stream" \
    --query DeliveryStreamDescription.DeliveryStreamStatus --output text)" = ACTIVE ]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "delivery stream $stream is not ACTIVE after 60s" >&2
      exit 1
    fi
    sleep 1
  done
done
echo "bucket and delivery streams are ready"
