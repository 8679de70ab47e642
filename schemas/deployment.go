package schemas

// Worker Deployments (Worker Versioning). Temporal routes a task queue's new
// work to one current version at a time, the one promoted last across all
// deployments whose workers poll it. The global queue is polled by the
// workers of every region, so they form one deployment together, and a
// region's loss does not strand the workflows; a region's own queue forms a
// deployment of its own, so each region's activities are rolled and promoted
// region by region. Each deployment is named after the queue it serves.
const WorkflowDeployment = GlobalTaskQueue

// RegionDeployment returns the deployment of region's workers on the
// region's task queue: lifeboat-<region>.
func RegionDeployment(region string) string { return RegionTaskQueue(region) }
