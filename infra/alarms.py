"""The stage's alarms and the SNS topic that e-mails them to the municipality.

Only in the packaged template (infra/app_package.py), not in the data template the local stack
provisions: moto's CloudFormation creates neither CloudWatch alarms nor SNS subscriptions (it
skips them with a warning), and locally nobody is there to be e-mailed.

Every alarm treats missing data as fine (no traffic is no trouble), except the dead-letter
queues': SQS stops publishing an idle queue's metrics after about six hours, while its messages
stay, so there missing data leaves the alarm as it was (`ignore`) instead of calling it over.
Except the sender's pause, each e-mails again when it is over. Metrics of our own are found by
namespace, `service` and `stage` (chalicelib/observability.py), so two stages in one account keep
apart.
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import METRICS_NAMESPACE, SERVICE, STAGE_DIMENSION
from chalicelib.resource_names import ResourceNames
from infra.data_resources import QUEUE_RESOURCE_IDS, dead_letter_resource_id

ALARM_EMAIL_PARAMETER = "AlarmEmail"
HAS_ALARM_EMAIL = "HasAlarmEmail"
ALARM_TOPIC_ID = "AlarmTopic"
PERIOD_SECONDS = 300
API_5XX_RATE = 0.05  # more than one request in twenty failing on our side, over five minutes

Resources = dict[str, dict[str, Any]]


def alarm_parameters() -> dict[str, Any]:
    return {
        ALARM_EMAIL_PARAMETER: {
            "Type": "String",
            "Default": "",
            "Description": "The e-mail address alarms go to (AWS asks it to confirm first); "
            "empty: no e-mail",
        }
    }


def alarm_conditions() -> dict[str, Any]:
    return {HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_EMAIL_PARAMETER}, ""]}]}}


def api_name(names: ResourceNames) -> str:
    """The REST API's name, which API Gateway's metrics are dimensioned by."""
    return names.prefix


def alarm_resources(names: ResourceNames, *, with_api: bool = True) -> Resources:
    """The topic, its e-mail subscription (only when an address is given), and the alarms:
    each dead-letter queue holding messages, the API's 5xx rate (`with_api`), the sender
    pausing itself, and SLA breaches."""
    resources: Resources = {
        ALARM_TOPIC_ID: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": f"{names.prefix}-alarms",
                "DisplayName": f"civicchat {names.stage}",
            },
        },
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_ALARM_EMAIL,
            "Properties": {
                "TopicArn": {"Ref": ALARM_TOPIC_ID},
                "Protocol": "email",
                "Endpoint": {"Ref": ALARM_EMAIL_PARAMETER},
            },
        },
    }
    for queue_id, attribute in QUEUE_RESOURCE_IDS.items():
        dead_letter_id = dead_letter_resource_id(queue_id)
        queue_name = names.dead_letter_queue(getattr(names, attribute))
        resources[f"{dead_letter_id}Alarm"] = _alarm(
            name=f"{queue_name} holds messages",
            description=_DEAD_LETTER_ADVICE.get(queue_id, _DEAD_LETTER_DEFAULT_ADVICE).format(
                stage=names.stage
            ),
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue_name},
            statistic="Maximum",
            threshold=0,
            comparison="GreaterThanThreshold",
            treat_missing_data="ignore",
        )
    if with_api:
        resources["Api5xxAlarm"] = _alarm(
            name=f"{names.prefix} API errors",
            description=(
                f"More than {API_5XX_RATE:.0%} of the API's requests failed with a 5xx over "
                "five minutes: WhatsApp's webhooks may be failing. See the api_handler logs."
            ),
            namespace="AWS/ApiGateway",
            metric="5XXError",
            dimensions={"ApiName": api_name(names)},
            statistic="Average",
            threshold=API_5XX_RATE,
            comparison="GreaterThanThreshold",
        )
    resources["SenderPausedAlarm"] = _own_metric_alarm(
        names,
        "SenderPaused",
        name=f"{names.prefix} sender paused",
        description=(
            "The WhatsApp Cloud API refused a message for a reason every further message would "
            "share (token, account, phone number): sending stopped and messages wait. Fix the "
            f"cause, then `civicchat sender resume --stage {names.stage}`."
        ),
        # The metric counts the moment of pausing, not the pause: its going quiet does not
        # mean sending resumed, so no "OK" e-mail.
        ok_actions=False,
    )
    resources["SlaBreachesAlarm"] = _own_metric_alarm(
        names,
        "SlaBreaches",
        name=f"{names.prefix} SLA breaches",
        description=(
            "Conversations went past their response time (the config's SLA policies); the "
            "console's inbox shows which."
        ),
    )
    return resources


_DEAD_LETTER_DEFAULT_ADVICE = (
    "Messages the app could not process after several attempts are parked here; the function's "
    "logs say why."
)
_DEAD_LETTER_ADVICE = {
    "OutboundRepliesQueue": (
        "Replies the sender gave up on: `civicchat dlq list --queue replies --stage {stage}` "
        "shows why, `civicchat dlq replay --queue replies --stage {stage}` sends them again."
    ),
    "OutboundBulkQueue": (
        "Bulk messages the sender gave up on: `civicchat dlq list --queue bulk --stage {stage}` "
        "shows why, `civicchat dlq replay --queue bulk --stage {stage}` sends them again."
    ),
}


def _own_metric_alarm(
    names: ResourceNames, metric: str, *, name: str, description: str, ok_actions: bool = True
) -> dict[str, Any]:
    """An alarm on a count of our own (chalicelib/observability.py): any in five minutes."""
    return _alarm(
        name=name,
        description=description,
        namespace=METRICS_NAMESPACE,
        metric=metric,
        dimensions={"service": SERVICE, STAGE_DIMENSION: names.stage},
        statistic="Sum",
        threshold=1,
        comparison="GreaterThanOrEqualToThreshold",
        ok_actions=ok_actions,
    )


def _alarm(
    *,
    name: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    statistic: str,
    threshold: float,
    comparison: str,
    ok_actions: bool = True,
    treat_missing_data: str = "notBreaching",
) -> dict[str, Any]:
    topic = [{"Ref": ALARM_TOPIC_ID}]
    properties: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
        "Statistic": statistic,
        "Period": PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": comparison,
        "TreatMissingData": treat_missing_data,
        "AlarmActions": topic,
    }
    if ok_actions:
        properties["OKActions"] = topic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
