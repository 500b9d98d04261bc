# Streams the Pinpoint application's events into the ingest stream (one event stream per application).
resource "aws_pinpoint_event_stream" "this" {
  count = local.create_pinpoint_event_stream ? 1 : 0

  application_id         = var.pinpoint_application_id
  destination_stream_arn = local.ingest_stream_arn
  role_arn               = aws_iam_role.pinpoint_stream[0].arn

  # Pinpoint checks at creation that the role can write to the stream.
  depends_on = [aws_iam_role_policy.pinpoint_stream]
}
