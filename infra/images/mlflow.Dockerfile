# The MLflow server image of the platform: the pinned MLflow image plus what the
# platform asks of it: /metrics for Prometheus (--expose-prometheus needs
# prometheus-flask-exporter), PostgreSQL and S3 drivers. Built by the docker
# target (dev) from the repository root; clusters pull it from a registry:
#   docker build -f infra/images/mlflow.Dockerfile -t <registry>/mlflow-server:<tag> .
ARG BASE_IMAGE=ghcr.io/mlflow/mlflow:v3.17.2
FROM ${BASE_IMAGE}
RUN pip install --no-cache-dir \
      prometheus-flask-exporter==0.23.1 \
      psycopg2-binary==2.9.10 \
      boto3==1.35.0 \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin mlflow
USER 10001
EXPOSE 5000
